import { readFileSync } from 'node:fs'

export interface Frame {
  event: string
  data: Record<string, unknown>
}

/** A test WebSocket client on `/ws` that records every frame and can wait for one. */
export class WsClient {
  readonly frames: Frame[] = []
  /** `performance.now()` when each frame arrived, index for index. */
  readonly receivedAt: number[] = []
  closeCode: number | undefined
  private readonly ws: WebSocket
  private waiters: Array<() => void> = []
  readonly opened: Promise<void>

  constructor(url: string) {
    this.ws = new WebSocket(url)
    this.ws.binaryType = 'arraybuffer'
    this.ws.onmessage = (m) => {
      this.frames.push(JSON.parse(String(m.data)))
      this.receivedAt.push(performance.now())
      this.wake()
    }
    this.ws.onclose = (e) => {
      this.closeCode = e.code
      this.wake()
    }
    this.opened = new Promise((resolve, reject) => {
      this.ws.onopen = () => resolve()
      this.ws.onerror = () => reject(new Error('socket error'))
    })
  }

  static async open(base: string, query: Record<string, string> = {}): Promise<WsClient> {
    const url = new URL('/ws', base.replace(/^http/, 'ws'))
    for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v)
    const client = new WsClient(url.toString())
    await client.opened
    return client
  }

  emit(event: string, data: unknown): void {
    this.ws.send(JSON.stringify({ event, data }))
  }

  /** Sends `text` as it is (e.g. a frame that is not valid JSON). */
  sendText(text: string): void {
    this.ws.send(text)
  }

  sendBinary(bytes: Uint8Array): void {
    this.ws.send(bytes)
  }

  /** Resolves with the first recorded frame (from index `from`) matching; throws after `timeoutMs`. */
  async next(match: (f: Frame) => boolean, timeoutMs = 10_000, from = 0): Promise<Frame> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const found = this.frames.slice(from).find(match)
      if (found) return found
      if (Date.now() > deadline || this.closeCode !== undefined) {
        throw new Error(`no matching frame; got ${JSON.stringify(this.frames.slice(from)).slice(0, 2000)}`)
      }
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve)
        setTimeout(resolve, 50)
      })
    }
  }

  /** The next frame with this event name arriving after now. */
  nextEvent(
    event: string,
    timeoutMs?: number,
    where: (data: Record<string, unknown>) => boolean = () => true,
  ) {
    return this.next((f) => f.event === event && where(f.data), timeoutMs, this.frames.length)
  }

  /** Sends `event` and waits for the first frame named `reply` (any of them) that arrives after it. */
  async request(event: string, data: unknown, reply: string | string[], timeoutMs?: number): Promise<Frame> {
    const from = this.frames.length
    const names = Array.isArray(reply) ? reply : [reply]
    this.emit(event, data)
    return this.next((f) => names.includes(f.event), timeoutMs, from)
  }

  events(event: string): Array<Record<string, unknown>> {
    return this.frames.filter((f) => f.event === event).map((f) => f.data)
  }

  close(): void {
    this.ws.close()
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w()
  }
}

/** Child processes of `pid` (from /proc): name and state, so tests can find FFmpeg and zombies. */
export function childProcesses(
  pid: number,
): Array<{ pid: number; name: string; state: string; cmdline: string }> {
  const out: Array<{ pid: number; name: string; state: string; cmdline: string }> = []
  for (const entry of new Bun.Glob('[0-9]*').scanSync({ cwd: '/proc', onlyFiles: false })) {
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8')
      // pid (comm) state ppid …; comm may contain spaces, so split after the last ')'.
      const close = stat.lastIndexOf(')')
      const [state, ppid] = stat.slice(close + 2).split(' ')
      if (Number(ppid) !== pid) continue
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').replaceAll('\0', ' ')
      out.push({
        pid: Number(entry),
        name: stat.slice(stat.indexOf('(') + 1, close),
        state: state ?? '',
        cmdline,
      })
    } catch {
      // The process exited while we looked.
    }
  }
  return out
}
