import { afterAll, beforeAll, expect, test } from 'bun:test'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { loadConfig } from '../../src/config.ts'
import { type RunningServer, startServer } from '../support/server.ts'
import { chunkWebm, makeWebm, type WebmChunk } from '../support/webm.ts'
import { WsClient } from '../support/ws-client.ts'

let server: RunningServer
let chunks: WebmChunk[]
/** 100 ms chunks, as the broadcaster page's MediaRecorder sends them. */
let slices: WebmChunk[]
let alice: string

beforeAll(async () => {
  const [started, webm] = await Promise.all([
    startServer({
      LIVESTREAM_CONNECTIONS_PER_MIN: '3',
      LIVESTREAM_EVENTS_PER_MIN: '5',
      LIVESTREAM_DATA_BYTES_PER_MIN: String(150 * 1024),
      LIVESTREAM_HTTP_STATUS_PER_MIN: '3',
      LIVESTREAM_RETENTION_S: '1',
    }),
    makeWebm({ seconds: 4, videoBitrate: '1M' }),
  ])
  server = started
  chunks = chunkWebm(webm)
  slices = chunkWebm(webm, 100)
  alice = await server.token('alice')
  // Booting the server and making the WebM with FFmpeg can take a while on a busy 2-core machine.
}, 120_000)
afterAll(() => server?.stop())

test('the default data limit fits a 720p MediaRecorder stream (about 2.5 Mbit/s) with room to spare', () => {
  const perMinute720p = ((2_500_000 + 128_000) / 8) * 60
  expect(loadConfig({ JWT_SECRET: 'x'.repeat(32) }).livestream.dataBytesPerMinute).toBeGreaterThan(
    3 * perMinute720p,
  )
})

test('stream-data past the per-stream byte budget gets MEDIA_ERROR; 100 ms chunks are not control events; the stream carries on', async () => {
  const broadcaster = await WsClient.open(server.url, { token: alice })
  await broadcaster.request('start-stream', { streamKey: 'budget' }, 'stream-started')
  let refused: Record<string, unknown> | undefined
  let sent = 0
  for (const chunk of slices) {
    sent++
    const from = broadcaster.frames.length
    broadcaster.sendBinary(chunk.bytes)
    await Bun.sleep(100)
    refused = broadcaster.frames.slice(from).find((f) => f.event === 'stream-error')?.data
    if (refused) break
  }
  expect(refused).toMatchObject({
    code: 'MEDIA_ERROR',
    streamKey: 'budget',
    error: expect.stringContaining('bytes per minute'),
    retryAfter: expect.any(Number),
  })
  // More chunks than the 5 events a minute went through before the byte budget ran out.
  expect(sent).toBeGreaterThan(5)
  const status = await (await fetch(`${server.url}/livestream/budget/status`)).json()
  expect(status.local.isActive).toBe(true)

  // Events per connection: this socket has used 1 (start-stream; chunks do not count); keep going until refused.
  let limited: Record<string, unknown> | undefined
  for (let i = 0; i < 6 && !limited; i++) {
    limited = (
      await broadcaster.request('join-stream', { streamKey: 'budget' }, ['stream-error', 'stream-joined'])
    ).data
    if (limited.code === undefined) limited = undefined
  }
  expect(limited).toMatchObject({ code: 'CONNECTION_FAILED', error: expect.stringContaining('events') })

  // Ending is an event too, so it uses a fresh connection; the stream's files go after the 1 s retention.
  const other = await WsClient.open(server.url, { token: alice })
  await other.request('end-stream', { streamKey: 'budget' }, 'stream-ended', 15_000)
  const dir = join(server.dataDir, 'livestream', 'budget')
  const deadline = Date.now() + 5000
  while (existsSync(dir) && Date.now() < deadline) await Bun.sleep(100)
  expect(existsSync(dir)).toBe(false)
  broadcaster.close()
  other.close()
})

test('livestream connections per IP: past the limit a socket gets CONNECTION_FAILED and is closed', async () => {
  // Two sockets were counted above; the third is the last one allowed this minute.
  const third = await WsClient.open(server.url)
  expect((await third.request('join-stream', { streamKey: 'none' }, 'stream-error')).data.code).toBe(
    'STREAM_NOT_FOUND',
  )
  const fourth = await WsClient.open(server.url)
  const refused = await fourth.request('join-stream', { streamKey: 'none' }, 'stream-error')
  expect(refused.data).toMatchObject({
    code: 'CONNECTION_FAILED',
    error: expect.stringContaining('connections'),
  })
  await fourth.next(() => false, 3000).catch(() => undefined)
  expect(fourth.closeCode).toBe(1008)
  third.close()
})

test('status endpoints are limited per IP with 429 and Retry-After', async () => {
  const statuses: number[] = []
  let retryAfter: string | null = null
  for (let i = 0; i < 4; i++) {
    const response = await fetch(`${server.url}/livestream/health`)
    statuses.push(response.status)
    retryAfter ??= response.headers.get('retry-after')
  }
  // Three per minute, and the budget test above used one (its /status).
  expect(statuses).toEqual([200, 200, 429, 429])
  expect(Number(retryAfter)).toBeGreaterThan(0)
})

test('shutdown ends every stream cleanly: last segment, ENDLIST, and no FFmpeg left behind', async () => {
  const own = await startServer({ LOG_LEVEL: 'warn' })
  const token = await own.token('alice')
  const broadcaster = await WsClient.open(own.url, { token })
  await broadcaster.request('start-stream', { streamKey: 'bye' }, 'stream-started')
  for (const chunk of chunks) {
    broadcaster.sendBinary(chunk.bytes)
    await Bun.sleep(100)
  }
  await broadcaster.next((f) => f.event === 'stream-segments-updated', 15_000)
  const ffmpeg = readdirSync('/proc').filter((pid) => {
    try {
      return /^\d+$/.test(pid) && readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(own.dataDir)
    } catch {
      return false
    }
  })
  expect(ffmpeg.length).toBe(1)
  own.process.kill('SIGTERM')
  expect(await own.process.exited).toBe(0)
  expect(existsSync(`/proc/${ffmpeg[0]}`)).toBe(false)
  const playlist = readFileSync(join(own.dataDir, 'livestream', 'bye', 'stream.m3u8'), 'utf8')
  expect(playlist.trimEnd().endsWith('#EXT-X-ENDLIST')).toBe(true)
  await own.stop()
}, 60_000)
