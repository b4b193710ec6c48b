import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { OpusEncoderPool } from '../../src/collector/encoder.ts'
import { InputFormatError, parseWavHeader } from '../../src/collector/pcm-input.ts'
import { Resampler } from '../../src/collector/resample.ts'
import { VoiceActivity } from '../../src/collector/voice-activity.ts'
import { validateOpusPacket } from '../../src/platform/native.ts'
import { REPO_ROOT, type RunningServer, startServer } from '../support/server.ts'
import { tempDir } from '../support/tmp.ts'
import { SseClient } from './support.ts'

const KEY = 'collector-key'
const dir = tempDir('airwave-collector-')
let server: RunningServer

function ffmpeg(args: string[]): void {
  const result = Bun.spawnSync(['ffmpeg', '-v', 'error', '-y', ...args], { stderr: 'pipe' })
  if (result.exitCode !== 0) throw new Error(result.stderr.toString())
}

/** 1 s of tone, 1.5 s of silence, 1 s of tone, at `rate` Hz with `channels` channels. */
function speechWithPause(path: string, rate: number, channels: number, format: 'wav' | 's16le'): void {
  ffmpeg([
    ...['-f', 'lavfi', '-i', `sine=frequency=500:duration=1:sample_rate=${rate}`],
    ...['-f', 'lavfi', '-i', `anullsrc=r=${rate}:cl=mono:d=1.5`],
    ...['-f', 'lavfi', '-i', `sine=frequency=700:duration=1:sample_rate=${rate}`],
    ...['-filter_complex', '[0][1][2]concat=n=3:v=0:a=1', '-ac', String(channels), '-ar', String(rate)],
    ...(format === 's16le' ? ['-f', 's16le'] : ['-c:a', 'pcm_s16le']),
    path,
  ])
}

async function collector(args: string[], stdin?: Uint8Array) {
  const proc = Bun.spawn(['bun', 'run', 'collector', '--', ...args], {
    cwd: REPO_ROOT,
    stdin: stdin ? new Blob([stdin as Uint8Array<ArrayBuffer>]) : 'ignore',
    stdout: 'pipe',
    stderr: 'pipe',
  })
  const [stdout, stderr, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ])
  return {
    code,
    stdout,
    stderr,
    summary: code === 0 || code === 1 ? JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}') : undefined,
  }
}

beforeAll(async () => {
  server = await startServer({ INGEST_API_KEYS: KEY })
})
afterAll(async () => {
  await server?.stop()
  dir.remove()
})

describe('collector units', () => {
  test('WAV headers: format and data offset, or a clear refusal', () => {
    const wav = join(dir.path, 'h.wav')
    ffmpeg(['-f', 'lavfi', '-i', 'sine=duration=0.1:sample_rate=16000', '-ac', '2', '-c:a', 'pcm_s16le', wav])
    const bytes = new Uint8Array(readFileSync(wav))
    expect(parseWavHeader(bytes.subarray(0, 20))).toBeNull()
    const parsed = parseWavHeader(bytes)
    expect(parsed?.format).toEqual({ sampleRate: 16000, channels: 2 })
    expect(() => parseWavHeader(new TextEncoder().encode('ID3 not a wave file'))).toThrow(InputFormatError)
  })

  test('the resampler keeps a tone’s pitch and level going from 48 kHz to 8 kHz across blocks', () => {
    const resampler = new Resampler(48_000, 8000)
    const out: number[] = []
    for (let block = 0; block < 10; block++) {
      const input = Int16Array.from({ length: 4800 }, (_, i) =>
        Math.round(10_000 * Math.sin((2 * Math.PI * 440 * (block * 4800 + i)) / 48_000)),
      )
      out.push(...resampler.push(input))
    }
    expect(Math.abs(out.length - 8000)).toBeLessThan(10)
    const tail = out.slice(1000)
    let crossings = 0
    for (let i = 1; i < tail.length; i++)
      if ((tail[i - 1] as number) < 0 !== (tail[i] as number) < 0) crossings++
    expect(Math.abs(crossings / (tail.length / 8000) - 880)).toBeLessThan(10)
    const rms = Math.sqrt(tail.reduce((s, v) => s + v * v, 0) / tail.length)
    expect(Math.abs(rms - 10_000 / Math.SQRT2)).toBeLessThan(300)
  })

  test('voice activity: threshold opens, hang time closes, short pauses stay in one transmission', () => {
    const vad = new VoiceActivity(-45, 300, 100)
    const levels = [-80, -20, -20, -70, -70, -20, -70, -70, -70, -70, -20]
    expect(levels.map((l) => vad.update(l))).toEqual([
      false,
      true,
      true,
      true,
      true,
      true,
      true,
      true,
      true,
      false,
      true,
    ])
    expect(vad.transmissions).toBe(2)
  })

  test('the encoder pool reuses instances, caps them and frees them', () => {
    const pool = new OpusEncoderPool(2)
    const a = pool.acquire()
    const b = pool.acquire()
    expect(() => pool.acquire()).toThrow('more than 2 Opus encoders in use')
    pool.release(a)
    expect(pool.acquire()).toBe(a)
    pool.release(a)
    pool.release(b)
    pool.close()
  })
})

describe('bun run collector against the real server', () => {
  test('a 16 kHz stereo WAV made here streams end to end: two transmissions, every chunk a valid 100 ms Opus packet', async () => {
    const wav = join(dir.path, 'speech.wav')
    speechWithPause(wav, 16_000, 2, 'wav')
    const listener = await SseClient.open(`${server.url}/api/v1/stream-listen?slot=2`)
    const result = await collector([
      ...['--url', server.url, '--key', KEY, '--slot', '2', '--radio', '4242', '--talkgroup', '7'],
      ...['--input', wav, '--hang', '300', '--save'],
    ])
    expect(result.code).toBe(0)
    expect(result.stderr).toMatch(
      /\[done\] transmissions 2 \| chunks sent \d+ \| queue 0 \| dropped 0 \| last error: none/,
    )
    expect(result.summary).toMatchObject({
      transmissions: 2,
      dropped: 0,
      rejected: 0,
      queued: 0,
      last_error: null,
    })
    // 2 s of tone plus up to 300 ms of hang after each burst.
    const sent = result.summary.chunks_sent as number
    expect(sent).toBeGreaterThanOrEqual(20)
    expect(sent).toBeLessThanOrEqual(28)
    await listener.waitFor((events) => events.filter((e) => e.event === 'audio_chunk').length === sent)
    const chunks = listener.json('audio_chunk')
    expect(chunks.map((c) => c.sequence)).toEqual(Array.from({ length: sent }, (_, i) => i))
    for (const c of chunks) {
      const packet = Buffer.from(c.chunk as string, 'base64')
      expect(validateOpusPacket(packet)).toEqual({ valid: true, durationSamples: 4800 })
      expect(c.size).toBe(packet.byteLength)
      expect(packet.byteLength).toBeLessThan(300)
    }
    expect(listener.json('transmission_start')[0]).toMatchObject({ slot: 2, radio_id: 4242, talkgroup_id: 7 })
    listener.close()
  }, 30_000)

  test('raw PCM on stdin (as from arecord) works too', async () => {
    const raw = join(dir.path, 'speech.raw')
    speechWithPause(raw, 8000, 1, 's16le')
    const result = await collector(
      [
        ...['--url', server.url, '--key', KEY, '--slot', '1', '--radio', '1', '--talkgroup', '1'],
        ...['--input', '-', '--format', 'raw', '--rate', '8000'],
      ],
      new Uint8Array(readFileSync(raw)),
    )
    expect(result.code).toBe(0)
    expect(result.summary.transmissions).toBe(2)
    expect(result.summary.chunks_sent).toBeGreaterThanOrEqual(20)
  }, 30_000)

  test('a server that is down: chunks wait in the bounded queue, the oldest are dropped and counted', async () => {
    const raw = join(dir.path, 'speech.raw')
    const result = await collector([
      ...['--url', 'http://127.0.0.1:9', '--key', KEY, '--slot', '1', '--radio', '1', '--talkgroup', '1'],
      ...['--input', raw, '--format', 'raw', '--queue', '5', '--no-realtime', '--drain-timeout', '1'],
    ])
    expect(result.code).toBe(1)
    expect(result.summary.chunks_sent).toBe(0)
    expect(result.summary.dropped).toBeGreaterThan(0)
    expect(result.summary.queued).toBe(5)
    expect(result.summary.last_error).toMatch(/\S/)
  }, 60_000)

  test('bad arguments get usage and exit code 2', async () => {
    const result = await collector(['--url', server.url])
    expect(result.code).toBe(2)
    expect(result.stderr).toContain('--key is required')
    expect(result.stderr).toContain('usage: collector')
  })
})
