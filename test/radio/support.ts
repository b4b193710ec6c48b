/** Helpers for the radio tests: real Opus chunks made by FFmpeg, an SSE client, and ingest requests. */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { OggDemuxer } from '../../src/platform/native.ts'
import { tempDir } from '../support/tmp.ts'

function ffmpeg(args: string[]): void {
  const result = Bun.spawnSync(['ffmpeg', '-v', 'error', '-y', ...args], { stderr: 'pipe' })
  if (result.exitCode !== 0) throw new Error(`ffmpeg failed: ${result.stderr.toString()}`)
}

/** Encodes `seconds` of a sine tone as 8 kHz mono 16 kbps Ogg Opus, as a voice collector would. */
function opusFile(name: string, frequency: number, seconds: number, extraArgs: string[] = []): Uint8Array {
  const dir = tempDir('airwave-radio-')
  try {
    const path = join(dir.path, name)
    ffmpeg([
      ...['-f', 'lavfi', '-i', `sine=frequency=${frequency}:duration=${seconds}`],
      ...['-c:a', 'libopus', '-b:a', '16k', '-ar', '8000', '-ac', '1', ...extraArgs, path],
    ])
    return new Uint8Array(readFileSync(path))
  } finally {
    dir.remove()
  }
}

/** `count` raw 100 ms Opus packets (8 kHz mono, 16 kbps voice), as a collector sends them. */
export function opusPackets(count: number, frequency = 440): Uint8Array[] {
  const file = opusFile('tone.opus', frequency, count / 10, [
    '-application',
    'voip',
    '-frame_duration',
    '100',
  ])
  const { packets } = new OggDemuxer().push(file)
  return packets.slice(2, 2 + count).map((p) => p.data)
}

/** The document's `test.opus`: 100 ms of 1 kHz as a whole Ogg Opus file. */
export function oggChunk(): Uint8Array {
  return opusFile('test.opus', 1000, 0.1)
}

export const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64')

export interface SseMessage {
  id: string | undefined
  event: string
  data: string
}

/** A minimal EventSource over fetch: every event with its id, for field-by-field checks. */
export class SseClient {
  readonly events: SseMessage[] = []
  status = 0
  headers: Headers | undefined
  closed = false
  private readonly abort = new AbortController()

  static async open(url: string, headers: Record<string, string> = {}): Promise<SseClient> {
    const client = new SseClient()
    const res = await fetch(url, { headers, signal: client.abort.signal })
    client.status = res.status
    client.headers = res.headers
    if (res.body) void client.read(res.body)
    return client
  }

  private async read(body: ReadableStream<Uint8Array>): Promise<void> {
    const decoder = new TextDecoder()
    let buffer = ''
    try {
      for await (const part of body as unknown as AsyncIterable<Uint8Array>) {
        buffer += decoder.decode(part, { stream: true })
        for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
          const block = buffer.slice(0, end)
          buffer = buffer.slice(end + 2)
          const message: SseMessage = { id: undefined, event: 'message', data: '' }
          const data: string[] = []
          for (const line of block.split('\n')) {
            const colon = line.indexOf(':')
            const field = colon < 0 ? line : line.slice(0, colon)
            const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '')
            if (field === 'id') message.id = value
            else if (field === 'event') message.event = value
            else if (field === 'data') data.push(value)
          }
          message.data = data.join('\n')
          this.events.push(message)
        }
      }
    } catch {
      // aborted by close()
    }
    this.closed = true
  }

  named(event: string): SseMessage[] {
    return this.events.filter((e) => e.event === event)
  }

  json(event: string): Record<string, unknown>[] {
    return this.named(event).map((e) => JSON.parse(e.data))
  }

  /** Resolves once `check` holds; fails after `ms` with what arrived. */
  async waitFor(check: (events: SseMessage[]) => boolean, ms = 10_000): Promise<void> {
    const deadline = Date.now() + ms
    while (!check(this.events)) {
      if (Date.now() > deadline) {
        throw new Error(
          `SSE condition not met; got ${this.events.map((e) => `${e.id}:${e.event}`).join(' ')}`,
        )
      }
      await Bun.sleep(10)
    }
  }

  get lastId(): string | undefined {
    return this.events.at(-1)?.id
  }

  close(): void {
    this.abort.abort()
  }
}

export interface ChunkBody {
  slot?: unknown
  radio_id?: unknown
  talkgroup_id?: unknown
  chunk_data?: unknown
  sequence?: unknown
  timestamp?: unknown
  save_recording?: unknown
  [key: string]: unknown
}

/** POSTs to the ingest endpoint; returns status, headers and the parsed JSON reply. */
export async function postChunk(
  baseUrl: string,
  body: ChunkBody | string,
  key: string | null = 'test-ingest-key',
  path = '/api/v1/stream-audio',
): Promise<{ status: number; headers: Headers; json: Record<string, unknown> }> {
  const res = await fetch(`${baseUrl}${path}`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(key === null ? {} : { authorization: `Bearer ${key}` }),
    },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  })
  const text = await res.text()
  return { status: res.status, headers: res.headers, json: text ? JSON.parse(text) : {} }
}
