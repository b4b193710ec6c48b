import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { type RunningServer, startServer } from '../support/server.ts'
import { until } from '../support/until.ts'
import { chunkWebm, makeWebm, probe, type WebmChunk } from '../support/webm.ts'
import { childProcesses, WsClient } from '../support/ws-client.ts'

let server: RunningServer
let chunks: WebmChunk[]
let alice: string
let bob: string
const clients: WsClient[] = []

beforeAll(async () => {
  const [started, webm] = await Promise.all([
    startServer({
      LIVESTREAM_GRACE_S: '2',
      LIVESTREAM_MAX_RESTARTS: '1',
      LIVESTREAM_HTTP_STATUS_PER_MIN: '10000',
      LIVESTREAM_CONNECTIONS_PER_MIN: '1000',
    }),
    makeWebm({ seconds: 14 }),
  ])
  server = started
  chunks = chunkWebm(webm)
  alice = await server.token('alice')
  bob = await server.token('bob')
  // Booting the server and making the WebM with FFmpeg can take a while on a busy 2-core machine.
}, 120_000)
afterAll(async () => {
  for (const c of clients) c.close()
  await server?.stop()
})

async function socket(query: Record<string, string> = {}): Promise<WsClient> {
  const client = await WsClient.open(server.url, query)
  clients.push(client)
  return client
}

/** The server's FFmpeg children, all or those writing `streamKey`'s directory. */
const ffmpegChildren = (streamKey?: string) =>
  childProcesses(server.process.pid).filter(
    (p) => p.name === 'ffmpeg' && (!streamKey || p.cmdline.includes(`/livestream/${streamKey}/`)),
  )

/** Sends chunks as binary frames, `gapMs` apart (faster than real time keeps the tests short). */
async function feed(client: WsClient, list: WebmChunk[], gapMs = 150): Promise<void> {
  for (const chunk of list) {
    client.sendBinary(chunk.bytes)
    await Bun.sleep(gapMs)
  }
}

const status = async (key: string) => (await fetch(`${server.url}/livestream/${key}/status`)).json()

describe('a stream end to end with real FFmpeg', () => {
  test('WebM in over the socket → H.264 + AAC HLS out, viewers counted, ENDLIST at the end, no FFmpeg left', async () => {
    const broadcaster = await socket({ token: alice })
    const started = await broadcaster.request(
      'start-stream',
      { streamKey: 'e2e', userId: 'alice' },
      'stream-started',
    )
    expect(started.data).toMatchObject({ streamKey: 'e2e', status: 'broadcasting' })

    // A viewer on a socket, and an HLS-only player.
    const viewer = await socket({ streamKey: 'e2e' })
    const joined = await viewer.request(
      'join-stream',
      { userId: 'viewer-label', sessionId: 'sess-1' },
      'stream-joined',
    )
    expect(joined.data).toMatchObject({ streamKey: 'e2e', viewerCount: 1, isLive: false })
    expect((await broadcaster.next((f) => f.event === 'viewer-joined')).data).toEqual({
      streamKey: 'e2e',
      viewerCount: 1,
    })

    await feed(broadcaster, chunks.slice(0, 8))
    await broadcaster.next((f) => f.event === 'stream-segments-updated')
    await viewer.next((f) => f.event === 'stream-segments-updated')

    const playlist = await fetch(`${server.url}/livestream/e2e/stream.m3u8?session=hls-only`)
    expect(playlist.status).toBe(200)
    expect(playlist.headers.get('content-type')).toBe('application/vnd.apple.mpegurl')
    expect(playlist.headers.get('cache-control')).toBe('no-cache')
    expect(playlist.headers.get('access-control-allow-origin')).toBe('*')
    const text = await playlist.text()
    expect(
      text.startsWith(
        '#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-PLAYLIST-TYPE:EVENT\n#EXT-X-INDEPENDENT-SEGMENTS\n',
      ),
    ).toBe(true)
    expect(text).toMatch(/#EXTINF:\d+\.\d{3},\nsegment_0\.ts\n/)
    expect(text).not.toContain('#EXT-X-ENDLIST')
    expect(
      await broadcaster.next((f) => f.event === 'viewer-joined' && f.data.viewerCount === 2),
    ).toBeDefined()

    // The same viewer's HLS requests do not count twice.
    await fetch(`${server.url}/livestream/e2e/stream.m3u8?session=sess-1`)
    expect((await status('e2e')).local.streamData.viewers).toBe(2)

    const segment = await fetch(`${server.url}/livestream/e2e/segment_0.ts`)
    expect(segment.status).toBe(200)
    expect(segment.headers.get('content-type')).toBe('video/mp2t')
    expect(segment.headers.get('cache-control')).toBe('public, max-age=3600')
    expect(segment.headers.get('access-control-allow-origin')).toBe('*')
    const path = join(server.dataDir, 'livestream', 'e2e', 'segment_0.ts')
    expect(
      Buffer.from(await segment.arrayBuffer()).equals(Buffer.from(await Bun.file(path).arrayBuffer())),
    ).toBe(true)
    const probed = await probe(path)
    expect(probed.format).toBe('mpegts')
    expect(probed.codecs).toEqual(['aac', 'h264'])
    expect(probed.duration).toBeGreaterThan(1.5)
    // A range of a segment, and a segment FFmpeg has not finished yet.
    const ranged = await fetch(`${server.url}/livestream/e2e/segment_0.ts`, {
      headers: { Range: 'bytes=0-187' },
    })
    expect(ranged.status).toBe(206)
    expect((await ranged.arrayBuffer()).byteLength).toBe(188)
    expect((await fetch(`${server.url}/livestream/e2e/segment_999.ts`)).status).toBe(404)

    const live = await status('e2e')
    expect(live).toMatchObject({
      streamId: 'e2e',
      local: {
        isActive: true,
        manifestExists: true,
        streamDirExists: true,
        streamData: {
          userId: 'alice',
          viewers: 2,
          hasFfmpegCommand: true,
          hasInputStream: true,
          broadcasterSocketId: expect.any(String),
        },
      },
      overall: { isActive: true, hasManifest: true, hasStreamDir: true, hasVideoContent: true },
    })
    expect(live.local.files).toContain('segment_0.ts')
    expect(live.local.manifestContent).toBe(
      await (await fetch(`${server.url}/livestream/e2e/stream.m3u8`)).text(),
    )
    expect(live).not.toHaveProperty('cloudinary')

    const active = await (await fetch(`${server.url}/livestream/active`)).json()
    expect(active.streams.find((s: { streamId: string }) => s.streamId === 'e2e')).toMatchObject({
      userId: 'alice',
      isActive: true,
      playbackUrl: expect.stringContaining('/livestream/e2e/stream.m3u8'),
    })

    // sess-1 leaves the socket but still plays HLS: still counted. A socket-only viewer comes and goes.
    viewer.emit('leave-stream', { streamKey: 'e2e' })
    const third = await socket()
    expect((await third.request('join-stream', { streamKey: 'e2e' }, 'stream-joined')).data.viewerCount).toBe(
      3,
    )
    third.close()
    expect(await broadcaster.next((f) => f.event === 'viewer-left')).toMatchObject({
      data: { streamKey: 'e2e', viewerCount: 2 },
    })

    await feed(broadcaster, chunks.slice(8))
    const ended = await broadcaster.request('end-stream', { streamKey: 'e2e' }, 'stream-ended', 15_000)
    expect(ended.data).toEqual({ streamKey: 'e2e', reason: 'ended by the broadcaster' })
    const final = await (await fetch(`${server.url}/livestream/e2e/stream.m3u8`)).text()
    expect(final.trimEnd().endsWith('#EXT-X-ENDLIST')).toBe(true)
    // 14 s of media at 2 s per segment.
    expect(final.match(/^segment_\d+\.ts$/gm)?.length).toBeGreaterThanOrEqual(6)
    expect(ffmpegChildren('e2e')).toEqual([])
    expect((await status('e2e')).local.isActive).toBe(false)
  }, 60_000)
})

describe('FFmpeg supervision', () => {
  test('killing FFmpeg mid-stream → stream-error FFMPEG_ERROR, a new FFmpeg, new segments after a discontinuity', async () => {
    const broadcaster = await socket({ token: alice, streamKey: 'crash' })
    await broadcaster.request('start-stream', {}, 'stream-started')
    await feed(broadcaster, chunks.slice(0, 5))
    await broadcaster.next((f) => f.event === 'stream-segments-updated')
    const [first] = ffmpegChildren('crash')
    expect(first).toBeDefined()
    const from = broadcaster.frames.length
    process.kill(first?.pid as number, 'SIGKILL')
    const error = await broadcaster.next((f) => f.event === 'stream-error', 10_000, from)
    expect(error.data).toMatchObject({
      code: 'FFMPEG_ERROR',
      streamKey: 'crash',
      error: expect.stringContaining('restarted'),
    })
    const before = (await status('crash')).local.streamData.segmentCount as number
    await feed(broadcaster, chunks.slice(5, 12))
    const after = await until(
      () => status('crash'),
      (s) => s.local.streamData.segmentCount > before + 1,
    )
    expect(after.local.streamData.restarts).toBe(1)
    expect(after.local.manifestContent).toContain('#EXT-X-DISCONTINUITY')
    const numbers = [...(after.local.manifestContent as string).matchAll(/segment_(\d+)\.ts/g)].map((m) =>
      Number(m[1]),
    )
    expect(numbers).toEqual(numbers.map((_, i) => i))
    const restarted = ffmpegChildren('crash')
    expect(restarted).toHaveLength(1)
    expect(restarted[0]?.pid).not.toBe(first?.pid)
    const probed = await probe(join(server.dataDir, 'livestream', 'crash', `segment_${numbers.at(-1)}.ts`))
    expect(probed.codecs).toEqual(['aac', 'h264'])
    await broadcaster.request('end-stream', {}, 'stream-ended', 15_000)
    expect(ffmpegChildren('crash')).toEqual([])
  }, 60_000)

  test('bad bytes as the first chunk → MEDIA_ERROR and no FFmpeg; after a valid header → FFMPEG_ERROR, failed, no zombies', async () => {
    const broadcaster = await socket({ token: alice })
    await broadcaster.request('start-stream', { streamKey: 'bad' }, 'stream-started')
    const noise = crypto.getRandomValues(new Uint8Array(64 * 1024))
    let from = broadcaster.frames.length
    broadcaster.sendBinary(noise)
    expect((await broadcaster.next((f) => f.event === 'stream-error', 5000, from)).data).toMatchObject({
      code: 'MEDIA_ERROR',
      streamKey: 'bad',
    })
    from = broadcaster.frames.length
    broadcaster.emit('stream-data', {
      streamKey: 'bad',
      chunk: Buffer.from(Uint8Array.of(0x1a, 0x45, 0xdf, 0xa3, 0x80)).toString('base64'),
    })
    expect((await broadcaster.next((f) => f.event === 'stream-error', 5000, from)).data).toMatchObject({
      code: 'MEDIA_ERROR',
      error: expect.stringContaining('Invalid WebM'),
    })
    broadcaster.emit('stream-data', { streamKey: 'bad', chunk: 'not base64!' })
    expect(await broadcaster.nextEvent('stream-error', 5000)).toMatchObject({ data: { code: 'MEDIA_ERROR' } })
    expect(ffmpegChildren('bad')).toEqual([])

    // A valid header followed by garbage: FFmpeg cannot make segments, is restarted once, then the stream fails.
    from = broadcaster.frames.length
    const header = chunks[0]?.bytes as Uint8Array
    broadcaster.sendBinary(header.slice(0, 600))
    for (let i = 0; i < 40 && !broadcaster.frames.slice(from).some((f) => f.event === 'stream-ended'); i++) {
      broadcaster.sendBinary(noise)
      await Bun.sleep(500)
    }
    const ended = await broadcaster.next((f) => f.event === 'stream-ended', 5000, from)
    expect(ended.data).toMatchObject({ streamKey: 'bad', reason: expect.stringContaining('FFmpeg failed') })
    const endedAt = broadcaster.frames.indexOf(ended)
    const errors = broadcaster.frames.slice(from, endedAt).filter((f) => f.event === 'stream-error')
    expect(errors.length).toBeGreaterThanOrEqual(2)
    expect(errors.map((f) => f.data.code)).toEqual(errors.map(() => 'FFMPEG_ERROR'))
    // Data after the end (as noise already on its way when it ended) is refused as data for no stream.
    broadcaster.sendBinary(noise)
    await broadcaster.next((f) => f.event === 'stream-error', 5000, endedAt)
    const late = broadcaster.frames.slice(endedAt).filter((f) => f.event === 'stream-error')
    expect(late.map((f) => f.data.code)).toEqual(late.map(() => 'STREAM_NOT_FOUND'))
    // Gone, and reaped, once the kill lands (a busy machine can take longer than a moment).
    expect(
      await until(
        () => ffmpegChildren('bad'),
        (left) => left.length === 0,
        5000,
      ),
    ).toEqual([])
    const zombies = () => childProcesses(server.process.pid).filter((p) => p.state === 'Z')
    expect(await until(zombies, (found) => found.length === 0, 5000)).toEqual([])
  }, 60_000)
})

describe('who may do what', () => {
  test('broadcasting needs a token; only the owner may send data or end; duplicates and unknown keys are refused', async () => {
    const anonymous = await socket()
    expect(
      (await anonymous.request('start-stream', { streamKey: 'auth1' }, ['stream-error', 'error'])).data,
    ).toMatchObject({
      code: 'UNAUTHORIZED',
      streamKey: 'auth1',
    })
    const owner = await socket({ token: alice })
    expect(
      (await owner.request('start-stream', { streamKey: 'auth1', userId: 'mallory' }, 'stream-error')).data,
    ).toMatchObject({
      code: 'UNAUTHORIZED',
    })
    await owner.request('start-stream', { streamKey: 'auth1' }, 'stream-started')
    expect((await owner.request('start-stream', { streamKey: 'auth1' }, 'stream-error')).data).toMatchObject({
      code: 'STREAM_ALREADY_EXISTS',
      streamKey: 'auth1',
    })
    const other = await socket({ token: bob })
    expect((await other.request('start-stream', { streamKey: 'auth1' }, 'stream-error')).data.code).toBe(
      'STREAM_ALREADY_EXISTS',
    )
    expect((await other.request('end-stream', { streamKey: 'auth1' }, 'stream-error')).data).toMatchObject({
      code: 'UNAUTHORIZED',
      streamKey: 'auth1',
    })
    const chunk = Buffer.from(chunks[0]?.bytes as Uint8Array).toString('base64')
    expect(
      (await other.request('stream-data', { streamKey: 'auth1', chunk }, 'stream-error')).data.code,
    ).toBe('UNAUTHORIZED')
    expect((await anonymous.request('end-stream', { streamKey: 'auth1' }, 'stream-error')).data.code).toBe(
      'UNAUTHORIZED',
    )
    expect((await anonymous.request('join-stream', { streamKey: 'nope' }, 'stream-error')).data).toEqual({
      error: 'Stream nope not found',
      code: 'STREAM_NOT_FOUND',
      streamKey: 'nope',
    })
    expect((await anonymous.request('join-stream', {}, 'stream-error')).data.code).toBe('STREAM_NOT_FOUND')
    expect((await anonymous.request('join-stream', { streamKey: '../etc' }, 'stream-error')).data.code).toBe(
      'STREAM_NOT_FOUND',
    )
    expect((await other.request('end-stream', { streamKey: 'nope' }, 'stream-error')).data.code).toBe(
      'STREAM_NOT_FOUND',
    )
    // A binary frame from a socket that broadcasts nothing.
    other.sendBinary(Uint8Array.of(1, 2, 3))
    expect(await other.nextEvent('error', 5000)).toMatchObject({ data: { code: 'UNEXPECTED_BINARY' } })
    expect((await owner.request('end-stream', { streamKey: 'auth1' }, 'stream-ended')).data.streamKey).toBe(
      'auth1',
    )
  }, 30_000)

  test('a dropped broadcaster ends the stream after the grace period; reconnecting within it resumes', async () => {
    const first = await socket({ token: alice })
    await first.request('start-stream', { streamKey: 'grace' }, 'stream-started')
    await feed(first, chunks.slice(0, 3), 50)
    const viewer = await socket()
    await viewer.request('join-stream', { streamKey: 'grace' }, 'stream-joined')
    first.close()
    await Bun.sleep(1000)
    const second = await socket({ token: alice })
    const resumed = await second.request('start-stream', { streamKey: 'grace' }, 'stream-started')
    expect(resumed.data).toMatchObject({ streamKey: 'grace', status: 'active' })
    await feed(second, chunks.slice(3, 6), 50)
    await Bun.sleep(2500)
    expect((await status('grace')).local.isActive).toBe(true)
    second.close()
    expect((await viewer.nextEvent('stream-ended', 10_000)).data).toEqual({
      streamKey: 'grace',
      reason: 'broadcaster disconnected',
    })
    expect(ffmpegChildren('grace')).toEqual([])
    // The key can be used again; the ended stream's retained files give way to the new one.
    expect((await status('grace')).local.files.length).toBeGreaterThan(0)
    const again = await socket({ token: bob })
    expect((await again.request('start-stream', { streamKey: 'grace' }, 'stream-started')).data.status).toBe(
      'broadcasting',
    )
    expect((await status('grace')).local).toMatchObject({
      isActive: true,
      files: [],
      streamData: { userId: 'bob' },
    })
    await again.request('end-stream', { streamKey: 'grace' }, 'stream-ended')
  }, 30_000)
})

describe('HTTP API', () => {
  const post = (path: string, token: string | undefined, body: unknown) =>
    fetch(`${server.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify(body),
    })

  test('start and stop drive the same lifecycle; owner only; documented statuses', async () => {
    expect((await post('/livestream/http1/start', undefined, { action: 'start', timestamp: 1 })).status).toBe(
      401,
    )
    expect((await post('/livestream/http1/start', alice, { action: 'go', timestamp: 1 })).status).toBe(400)
    expect((await post('/livestream/http1/start', alice, { action: 'start' })).status).toBe(400)
    expect(
      (await post('/livestream/http1/start', alice, { userId: 'bob', action: 'start', timestamp: 1 })).status,
    ).toBe(403)
    const created = await post('/livestream/http1/start', alice, {
      userId: 'alice',
      action: 'start',
      timestamp: 1704110400,
      title: 'T',
    })
    expect(created.status).toBe(200)
    expect(await created.json()).toMatchObject({
      status: 'created_and_started',
      streamId: 'http1',
      message: expect.any(String),
      playbackUrl: expect.stringContaining('/livestream/http1/stream.m3u8'),
      timestamp: expect.any(String),
    })
    expect(
      (await (await post('/livestream/http1/start', bob, { action: 'start', timestamp: 1 })).json()).status,
    ).toBe('already_exists')

    // The broadcaster attaches over the socket and streams.
    const broadcaster = await socket({ token: alice, streamKey: 'http1' })
    expect((await broadcaster.request('start-stream', {}, 'stream-started')).data.status).toBe('active')
    await feed(broadcaster, chunks.slice(0, 4), 50)
    await broadcaster.next((f) => f.event === 'stream-segments-updated', 15_000)

    const forbidden = await post('/livestream/http1/stop', bob, { action: 'stop', timestamp: 1 })
    expect(forbidden.status).toBe(403)
    expect(await forbidden.json()).toMatchObject({ status: 'error', message: expect.any(String) })
    const stopped = await post('/livestream/http1/stop', alice, { action: 'stop', timestamp: 2 })
    expect(await stopped.json()).toMatchObject({
      status: 'stopped',
      streamId: 'http1',
      message: expect.any(String),
      timestamp: expect.any(String),
    })
    expect((await broadcaster.nextEvent('stream-ended', 10_000)).data).toEqual({
      streamKey: 'http1',
      reason: 'stopped over HTTP',
    })
    expect(
      (await (await post('/livestream/http1/stop', alice, { action: 'stop', timestamp: 3 })).json()).status,
    ).toBe('already_stopped')
    // Still watchable after the end, until cleanup.
    const playlist = await fetch(`${server.url}/livestream/http1/stream.m3u8`)
    expect(playlist.status).toBe(200)
    expect(await playlist.text()).toContain('#EXT-X-ENDLIST')
    expect((await fetch(`${server.url}/livestream/http1/segment_0.ts`)).status).toBe(200)
  }, 30_000)

  test('health, debug (admin only), 404s and bad ids', async () => {
    const health = await (await fetch(`${server.url}/livestream/health`)).json()
    expect(health).toMatchObject({
      status: 'healthy',
      timestamp: expect.any(String),
      streamsDirectory: { exists: true, path: join(server.dataDir, 'livestream') },
      activeStreams: { count: expect.any(Number), streams: expect.any(Array) },
      memoryUsage: {
        rss: expect.any(Number),
        heapTotal: expect.any(Number),
        heapUsed: expect.any(Number),
        external: expect.any(Number),
      },
    })
    expect((await fetch(`${server.url}/livestream/http1/debug`)).status).toBe(401)
    expect(
      (await fetch(`${server.url}/livestream/http1/debug`, { headers: { authorization: `Bearer ${alice}` } }))
        .status,
    ).toBe(403)
    const admin = await server.token('root', { role: 'admin' })
    const debug = await (
      await fetch(`${server.url}/livestream/http1/debug`, { headers: { authorization: `Bearer ${admin}` } })
    ).json()
    const counts = [debug.segmentsInManifest, debug.segmentFilesCount, debug.segmentFiles.length]
    expect(counts[0]).toBeGreaterThan(0)
    expect(new Set(counts).size).toBe(1)
    expect(debug).toMatchObject({
      streamId: 'http1',
      streamPath: join(server.dataDir, 'livestream', 'http1'),
      m3u8Path: join(server.dataDir, 'livestream', 'http1', 'stream.m3u8'),
      manifestExists: true,
      manifestContent: expect.stringContaining('#EXTM3U'),
      manifestLines: expect.any(Number),
      segmentsInManifest: expect.any(Number),
      segmentFiles: expect.arrayContaining(['segment_0.ts']),
      allFiles: expect.arrayContaining(['stream.m3u8', 'segment_0.ts']),
      timestamp: expect.any(String),
    })
    const missing = await fetch(`${server.url}/livestream/never/stream.m3u8`)
    expect(missing.status).toBe(404)
    expect(await missing.json()).toMatchObject({ status: 'error' })
    expect((await fetch(`${server.url}/livestream/bad%20id/status`)).status).toBe(400)
    expect((await fetch(`${server.url}/livestream/never/other.txt`)).status).toBe(404)
    const unknown = await status('never')
    expect(unknown).toEqual({
      streamId: 'never',
      local: {
        isActive: false,
        manifestExists: false,
        streamDirExists: false,
        files: [],
        manifestContent: null,
      },
      overall: { isActive: false, hasManifest: false, hasStreamDir: false, hasVideoContent: false },
    })
    expect(existsSync(join(server.dataDir, 'livestream'))).toBe(true)
  })
})
