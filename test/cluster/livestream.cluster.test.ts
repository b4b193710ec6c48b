/**
 * Livestreams across a three-instance cluster behind nginx (issue 14, point 4): the broadcaster's instance runs
 * FFmpeg; viewers on the other instances, over `/ws` and Socket.IO, get every event and the cluster-wide viewer
 * count; `/livestream/active`, `/status` and `/health` agree everywhere; the playlist and segments come from any
 * instance; kill -9 of the broadcaster's instance ends the stream `failed` for everyone within the grace period, or
 * it resumes when the broadcaster comes back to another instance; Redis restarted mid-stream.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { join } from 'node:path'
import { skipClusterTests, startCluster, type TestCluster } from '../support/cluster.ts'
import { SioRecorder } from '../support/socketio-client.ts'
import { until } from '../support/until.ts'
import { chunkWebm, makeWebm, type WebmChunk } from '../support/webm.ts'
import { WsClient } from '../support/ws-client.ts'

type Json = Record<string, unknown>
/** Long enough that a busy machine's takeover and a reconnection fit in it. */
const GRACE_S = 5

describe.skipIf(skipClusterTests('livestream.cluster.test.ts'))('livestreams in a cluster', () => {
  let cluster: TestCluster
  let chunks: WebmChunk[]
  let alice: string
  const open: Array<{ close(): void }> = []

  beforeAll(async () => {
    const [started, webm] = await Promise.all([
      startCluster({
        env: {
          LIVESTREAM_GRACE_S: String(GRACE_S),
          LIVESTREAM_HTTP_STATUS_PER_MIN: '100000',
          LIVESTREAM_HTTP_STREAM_PER_MIN: '100000',
          LIVESTREAM_CONNECTIONS_PER_MIN: '100000',
          LIVESTREAM_EVENTS_PER_MIN: '100000',
          LIVESTREAM_X264_PRESET: 'ultrafast',
        },
      }),
      makeWebm({ seconds: 14 }),
    ])
    cluster = started
    chunks = chunkWebm(webm)
    alice = await cluster.token('alice')
  }, 180_000)
  afterAll(async () => {
    for (const client of open) client.close()
    await cluster?.stop()
  })

  const ws = async (base: string, query: Record<string, string>) => {
    const client = await WsClient.open(base, query)
    open.push(client)
    return client
  }
  const sio = async (base: string, streamKey: string) => {
    const client = await SioRecorder.connect(base, { query: { streamKey }, transports: ['websocket'] })
    open.push(client)
    return client
  }
  const feed = async (client: WsClient, list: WebmChunk[], gapMs = 150) => {
    for (const chunk of list) {
      client.sendBinary(chunk.bytes)
      await Bun.sleep(gapMs)
    }
  }
  const json = async (url: string) => (await (await fetch(url)).json()) as Json
  const active = async (base: string) =>
    (await json(`${base}/livestream/active`)) as { count: number; streams: Json[] }
  const alive = () => cluster.urls.filter((_, i) => cluster.alive(i))

  test('broadcaster on one instance; viewers on the others over /ws and Socket.IO; HLS from every instance', async () => {
    const [a, b, c] = cluster.urls as [string, string, string]
    const key = 'everywhere'
    const broadcaster = await ws(a, { token: alice })
    const started = await broadcaster.request('start-stream', { streamKey: key }, 'stream-started')
    expect(started.data).toMatchObject({ streamKey: key, status: 'broadcasting' })
    // The key is live on one instance only: another broadcaster elsewhere is refused.
    const rival = await ws(b, { token: alice })
    const refused = await rival.request('start-stream', { streamKey: key }, 'stream-error')
    expect(refused.data).toMatchObject({ code: 'STREAM_ALREADY_EXISTS', streamKey: key })

    const viewerB = await ws(b, { streamKey: key })
    const joinedB = await viewerB.request('join-stream', { sessionId: 'viewer-b' }, 'stream-joined')
    expect(joinedB.data).toMatchObject({ streamKey: key, viewerCount: 1 })
    await broadcaster.next((f) => f.event === 'viewer-joined' && f.data.viewerCount === 1)

    const viewerC = await sio(c, key)
    const joinedC = await viewerC.socket.emitWithAck('join-stream', { sessionId: 'viewer-c' })
    expect(joinedC).toBeUndefined()
    const seenC = await viewerC.next((f) => f.event === 'stream-joined')
    expect(seenC.data).toMatchObject({ streamKey: key, viewerCount: 2 })
    for (const client of [broadcaster, viewerB]) {
      expect(
        (await client.next((f) => f.event === 'viewer-joined' && f.data.viewerCount === 2)).data,
      ).toEqual({ streamKey: key, viewerCount: 2 })
    }

    await feed(broadcaster, chunks.slice(0, 8))
    await viewerB.next((f) => f.event === 'stream-segments-updated')
    await viewerC.next((f) => f.event === 'stream-segments-updated')

    // Every instance shows the same stream, run by the first one, with the cluster's viewers.
    for (const base of cluster.urls) {
      const list = await until(
        () => active(base),
        (l) => l.count === 1 && (l.streams[0]?.viewerCount as number) === 2,
      )
      expect(list.streams[0]).toMatchObject({ streamId: key, userId: 'alice', instanceId: cluster.ids[0] })
      const status = await until(
        () => json(`${base}/livestream/${key}/status`),
        (s) => (s.overall as Json).hasVideoContent === true,
      )
      expect(status).toMatchObject({
        streamId: key,
        local: { isActive: true, manifestExists: true, streamData: { userId: 'alice', viewers: 2 } },
        overall: { isActive: true, hasManifest: true },
      })
      const health = await json(`${base}/livestream/health`)
      expect(health).toMatchObject({ activeStreams: { count: 1, streams: [{ streamKey: key, viewers: 2 }] } })
    }

    // The playlist and a segment through nginx (round-robin) and from each instance, the owner's bytes.
    const onDisk = Buffer.from(
      await Bun.file(join(cluster.server(0).dataDir, 'livestream', key, 'segment_0.ts')).arrayBuffer(),
    )
    for (const base of [cluster.url, cluster.url, cluster.url, ...cluster.urls]) {
      const playlist = await fetch(`${base}/livestream/${key}/stream.m3u8`)
      expect(playlist.status).toBe(200)
      expect(playlist.headers.get('content-type')).toBe('application/vnd.apple.mpegurl')
      expect(await playlist.text()).toContain('\nsegment_0.ts\n')
      const segment = await fetch(`${base}/livestream/${key}/segment_0.ts`)
      expect(segment.status).toBe(200)
      expect(segment.headers.get('content-type')).toBe('video/mp2t')
      expect(Buffer.from(await segment.arrayBuffer()).equals(onDisk)).toBe(true)
    }
    const ranged = await fetch(`${b}/livestream/${key}/segment_0.ts`, { headers: { Range: 'bytes=0-187' } })
    expect(ranged.status).toBe(206)
    expect((await ranged.arrayBuffer()).byteLength).toBe(188)
    expect((await fetch(`${b}/livestream/${key}/segment_999.ts`)).status).toBe(404)

    // An HLS player polling another instance counts too.
    await fetch(`${c}/livestream/${key}/stream.m3u8?session=hls-player`)
    await viewerB.next((f) => f.event === 'viewer-joined' && f.data.viewerCount === 3)

    // Leaving on one instance is heard on the others.
    viewerB.close()
    await viewerC.next((f) => f.event === 'viewer-left' && f.data.viewerCount === 2)

    // A viewer on another instance cannot end it; the owner's end reaches everyone.
    const ended = await broadcaster.request('end-stream', { streamKey: key }, 'stream-ended', 15_000)
    expect(ended.data).toEqual({ streamKey: key, reason: 'ended by the broadcaster' })
    expect((await viewerC.next((f) => f.event === 'stream-ended')).data).toMatchObject({ streamKey: key })
    for (const base of cluster.urls) {
      await until(
        () => active(base),
        (l) => l.count === 0,
      )
      const text = await (await fetch(`${base}/livestream/${key}/stream.m3u8`)).text()
      expect(text).toContain('#EXT-X-ENDLIST')
    }
  }, 120_000)

  test('kill -9 of the broadcaster’s instance: every viewer hears the stream end failed within the grace period', async () => {
    const key = 'orphan'
    const broadcaster = await ws(cluster.urls[0] as string, { token: alice })
    await broadcaster.request('start-stream', { streamKey: key }, 'stream-started')
    const viewerB = await ws(cluster.urls[1] as string, { streamKey: key })
    await viewerB.request('join-stream', {}, 'stream-joined')
    const viewerC = await sio(cluster.urls[2] as string, key)
    viewerC.socket.emit('join-stream', {})
    await viewerC.next((f) => f.event === 'stream-joined')
    await feed(broadcaster, chunks.slice(0, 6))
    await viewerB.next((f) => f.event === 'stream-segments-updated')

    const killedAt = Date.now()
    await cluster.kill(0)
    const endB = await viewerB.next((f) => f.event === 'stream-ended', 15_000)
    const endC = await viewerC.next((f) => f.event === 'stream-ended', 15_000)
    const took = Date.now() - killedAt
    for (const end of [endB, endC]) {
      expect(end.data).toMatchObject({ streamKey: key, reason: expect.stringContaining('failed') })
    }
    // Lease expiry (1.2 s) and one retry (0.3 s), then the grace period, with slack for a busy machine.
    expect(took).toBeLessThan(GRACE_S * 1000 + 3000)
    for (const base of alive()) {
      await until(
        () => active(base),
        (l) => l.count === 0,
      )
      // The segments made before the kill are still served, and the playlist is closed.
      const text = await (await fetch(`${base}/livestream/${key}/stream.m3u8`)).text()
      expect(text).toContain('#EXT-X-ENDLIST')
      expect((await fetch(`${base}/livestream/${key}/segment_0.ts`)).status).toBe(200)
    }
    await cluster.restart(0)
  }, 90_000)

  test('the broadcaster comes back to another instance within the grace period: the stream goes on', async () => {
    const key = 'comeback'
    const broadcaster = await ws(cluster.urls[0] as string, { token: alice })
    await broadcaster.request('start-stream', { streamKey: key }, 'stream-started')
    const viewer = await ws(cluster.urls[2] as string, { streamKey: key })
    await viewer.request('join-stream', { sessionId: 'loyal' }, 'stream-joined')
    await feed(broadcaster, chunks.slice(0, 6))
    await viewer.next((f) => f.event === 'stream-segments-updated')
    const before = (viewer.events('stream-segments-updated').at(-1)?.segmentCount as number) ?? 0

    await cluster.kill(0)
    // Once another instance has the stream (no broadcaster), the broadcaster reconnects to instance 2.
    await until(
      () => json(`${cluster.urls[1]}/livestream/${key}/status`),
      (s) => {
        const owner = ((s.local as Json).streamData as Json | undefined)?.instanceId
        return owner !== undefined && owner !== cluster.ids[0]
      },
      10_000,
    )
    const back = await ws(cluster.urls[1] as string, { token: alice })
    const resumed = await back.request('start-stream', { streamKey: key }, ['stream-started', 'stream-error'])
    expect(resumed.data).toMatchObject({ streamKey: key, status: 'active' })
    // MediaRecorder goes on where it was: chunks without the WebM header, the kept one is used.
    await feed(back, chunks.slice(6, 12))
    const more = await viewer.next(
      (f) => f.event === 'stream-segments-updated' && (f.data.segmentCount as number) > before,
      15_000,
    )
    expect(more.data.streamKey).toBe(key)
    expect(viewer.events('stream-ended')).toEqual([])
    const list = await active(cluster.url)
    expect(list.streams.find((s) => s.streamId === key)).toMatchObject({
      instanceId: cluster.ids[1],
      viewerCount: 1,
    })
    await back.request('end-stream', { streamKey: key }, 'stream-ended', 15_000)
    await viewer.next((f) => f.event === 'stream-ended')
    await cluster.restart(0)
  }, 90_000)

  test('Redis restarted mid-stream: the broadcaster’s instance carries on alone, then the cluster sees it again', async () => {
    const key = 'weather'
    if (!cluster.alive(0)) await cluster.restart(0)
    const broadcaster = await ws(cluster.urls[0] as string, { token: alice })
    await broadcaster.request('start-stream', { streamKey: key }, 'stream-started')
    await feed(broadcaster, chunks.slice(0, 4))
    await cluster.redis.kill()
    await until(
      () => cluster.health(0),
      (h) => h.cluster.status === 'degraded',
    )
    // Alone: the owner still streams and serves its playlist.
    await feed(broadcaster, chunks.slice(4, 8))
    await broadcaster.next((f) => f.event === 'stream-segments-updated', 15_000)
    expect((await fetch(`${cluster.urls[0]}/livestream/${key}/stream.m3u8`)).status).toBe(200)

    await cluster.redis.restart()
    // Shared again by itself: every instance lists it, and a viewer on another instance joins it.
    for (const base of cluster.urls) {
      await until(
        () => active(base),
        (l) => l.streams.some((s) => s.streamId === key),
        15_000,
      )
    }
    const viewer = await ws(cluster.urls[1] as string, { streamKey: key })
    const joined = await viewer.request('join-stream', {}, ['stream-joined', 'stream-error'])
    expect(joined.data).toMatchObject({ streamKey: key, viewerCount: 1 })
    await feed(broadcaster, chunks.slice(8, 11))
    await viewer.next((f) => f.event === 'stream-segments-updated', 15_000)
    expect((await fetch(`${cluster.urls[2]}/livestream/${key}/stream.m3u8`)).status).toBe(200)
    await broadcaster.request('end-stream', { streamKey: key }, 'stream-ended', 15_000)
    await viewer.next((f) => f.event === 'stream-ended')
  }, 90_000)
})
