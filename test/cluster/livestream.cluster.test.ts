/**
 * Livestreams across a three-instance cluster behind nginx (issue 14, point 4): the broadcaster's instance runs
 * FFmpeg; viewers on the other instances, over `/ws` and Socket.IO, get every event and the cluster-wide viewer
 * count; `/livestream/active`, `/status` and `/health` agree everywhere; the playlist and segments come from any
 * instance; kill -9 of the broadcaster's instance ends the stream `failed` for everyone within the grace period, or
 * it resumes when the broadcaster comes back to another instance; Redis restarted mid-stream. LL-HLS (`ll.m3u8` with
 * blocking reloads, parts, init) from any instance: the others forward to the broadcaster's instance.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { join } from 'node:path'
import { LL_PART_TARGET_SECONDS } from '../../src/livestream/service.ts'
import { skipClusterTests, startCluster, type TestCluster } from '../support/cluster.ts'
import { type LlPlaylist, parseLlPlaylist } from '../support/ll-playlist.ts'
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
  /** 100 ms chunks, as the broadcaster page's MediaRecorder sends them (for LL-HLS, fed in real time). */
  let fineChunks: WebmChunk[]
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
    fineChunks = chunkWebm(webm, 100)
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

  test('LL-HLS from every instance: the same playlist, blocking reloads, parts and init; kill -9 of the owner → 503, never a hang', async () => {
    const [a, b, c] = cluster.urls as [string, string, string]
    const key = 'lowlatency'
    const ll = (base: string, file: string) => `${base}/livestream/${key}/${file}`
    const broadcaster = await ws(a, { token: alice })
    await broadcaster.request('start-stream', { streamKey: key }, 'stream-started')
    // In real time, 100 ms apart, in the background.
    let feeding = true
    const fed = (async () => {
      const start = performance.now()
      for (const [i, chunk] of fineChunks.entries()) {
        if (!feeding) return
        await Bun.sleep(Math.max(0, start + i * 100 - performance.now()))
        broadcaster.sendBinary(chunk.bytes)
      }
    })()
    const playlist = async (base: string, query = '') => {
      const response = await fetch(`${ll(base, 'll.m3u8')}${query}`)
      return { response, text: await response.text() }
    }
    /** Where the next part will be listed, and its number (from the preload hint). */
    const next = (list: LlPlaylist) => {
      const last = list.segments.at(-1)
      if (!last) throw new Error('empty playlist')
      const position =
        last.uri === null ? { msn: last.msn, part: last.parts.length } : { msn: last.msn + 1, part: 0 }
      return { ...position, number: Number(/part_(\d+)\.m4s/.exec(list.hint as string)?.[1]) }
    }
    // A complete segment on the owner first.
    const first = await until(
      async () => {
        const { response, text } = await playlist(a)
        return response.status === 200 ? parseLlPlaylist(text) : undefined
      },
      (list) => list?.segments.some((s) => s.uri !== null) === true,
      20_000,
    )
    expect(first).toBeDefined()

    // The same playlist everywhere: blocking reloads for the next part, at once on A, B, C and through nginx.
    for (let round = 0; round < 2; round++) {
      const { text } = await playlist(a)
      const wanted = next(parseLlPlaylist(text))
      const query = `?_HLS_msn=${wanted.msn}&_HLS_part=${wanted.part}`
      const answers = await Promise.all(
        [a, b, c, cluster.url, cluster.url, cluster.url].map(async (base) => {
          const { response, text } = await playlist(base, query)
          return { base, status: response.status, headers: response.headers, text }
        }),
      )
      for (const answer of answers) {
        expect(answer.status).toBe(200)
        expect(answer.headers.get('content-type')).toBe('application/vnd.apple.mpegurl')
        expect(answer.headers.get('cache-control')).toBe('no-cache')
        expect(answer.headers.get('access-control-allow-origin')).toBe('*')
        expect(answer.text).toContain(`URI="part_${wanted.number}.m4s"`)
        expect(answer.text).toBe(answers[0]?.text as string)
      }
      expect(answers[1]?.headers.get('x-airwave-answered-by')).toBe(cluster.ids[0] as string)
      expect(answers[2]?.headers.get('x-airwave-answered-by')).toBe(cluster.ids[0] as string)
    }

    // A blocking reload on B returns once the part exists on A: not before, and within one part duration of it.
    for (let round = 0; round < 3; round++) {
      const wanted = next(parseLlPlaylist((await playlist(a)).text))
      const uri = `part_${wanted.number}.m4s`
      const started = performance.now()
      const blocking = fetch(`${ll(b, 'll.m3u8')}?_HLS_msn=${wanted.msn}&_HLS_part=${wanted.part}`).then(
        async (r) => ({ status: r.status, text: await r.text(), at: performance.now() }),
      )
      let seenAt = Number.POSITIVE_INFINITY
      while (seenAt === Number.POSITIVE_INFINITY && performance.now() - started < 5000) {
        if ((await playlist(a)).text.includes(`"${uri}"`)) seenAt = performance.now()
        else await Bun.sleep(5)
      }
      const answer = await blocking
      expect(answer.status).toBe(200)
      expect(answer.text).toContain(`URI="${uri}"`)
      expect(answer.at - seenAt).toBeLessThan(LL_PART_TARGET_SECONDS * 1000)
    }

    // A part, a whole segment and the init segment from C (and nginx): byte for byte A's.
    const list = parseLlPlaylist((await playlist(a)).text)
    const complete = list.segments.find((s) => s.uri !== null)
    const files = [complete?.map as string, complete?.parts[0]?.uri as string, complete?.uri as string]
    for (const file of files) {
      const bytes = async (base: string) => {
        const response = await fetch(ll(base, file))
        expect(response.status).toBe(200)
        expect(response.headers.get('content-type')).toBe('video/mp4')
        expect(response.headers.get('cache-control')).toBe('public, max-age=3600, immutable')
        return Buffer.from(await response.arrayBuffer())
      }
      const owner = await bytes(a)
      expect(owner.byteLength).toBeGreaterThan(0)
      expect((await bytes(c)).equals(owner)).toBe(true)
      expect((await bytes(cluster.url)).equals(owner)).toBe(true)
    }
    const head = await fetch(ll(c, complete?.parts[0]?.uri as string), { method: 'HEAD' })
    expect(head.status).toBe(200)
    expect(head.headers.get('content-length')).toBe(
      String((await (await fetch(ll(a, complete?.parts[0]?.uri as string))).arrayBuffer()).byteLength),
    )
    // The preload-hinted part is held on the owner and arrives through B.
    const hinted = (await playlist(a)).text.match(/PRELOAD-HINT:TYPE=PART,URI="([^"]+)"/)?.[1] as string
    const hintedAnswer = await fetch(ll(b, hinted))
    expect(hintedAnswer.status).toBe(200)
    expect((await hintedAnswer.arrayBuffer()).byteLength).toBeGreaterThan(0)
    // A forwarded request is never forwarded again: with the header, B answers from its own (absent) packager.
    const loop = await fetch(ll(b, 'll.m3u8'), { headers: { 'X-Airwave-Forwarded': 'someone.forged' } })
    expect(loop.status).toBe(404)

    // kill -9 of the owner while B holds a blocking reload: B answers an error at once, never hangs.
    const wanted = next(parseLlPlaylist((await playlist(a)).text))
    const pending = fetch(`${ll(b, 'll.m3u8')}?_HLS_msn=${wanted.msn + 1}&_HLS_part=0`).then((r) => ({
      status: r.status,
      retryAfter: r.headers.get('retry-after'),
      at: performance.now(),
    }))
    await Bun.sleep(50)
    feeding = false
    const killedAt = performance.now()
    await cluster.kill(0)
    const cut = await pending
    expect(cut.status).toBe(503)
    expect(cut.retryAfter).toBe('1')
    expect(cut.at - killedAt).toBeLessThan(2000)
    // Until another instance has taken the stream over: 503 with Retry-After; then 404 (no media there); never a hang.
    const seen = new Set<number>()
    const until404 = performance.now()
    while (performance.now() - until404 < 15_000) {
      const asked = performance.now()
      const response = await fetch(ll(b, 'll.m3u8'), { signal: AbortSignal.timeout(5000) })
      expect(performance.now() - asked).toBeLessThan(3000)
      seen.add(response.status)
      if (response.status === 503) expect(response.headers.get('retry-after')).toBe('1')
      else expect(response.status).toBe(404)
      await response.arrayBuffer()
      if (response.status === 404) break
      await Bun.sleep(200)
    }
    expect(seen.has(404)).toBe(true)
    await fed
    await cluster.restart(0)
    // The orphaned stream ends failed after the grace period, before the next test.
    await until(
      () => active(b),
      (l) => !l.streams.some((s) => s.streamId === key),
      GRACE_S * 1000 + 10_000,
    )
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
    // The successor's grace period runs from the owner's loss (its lease's expiry before the takeover), not from the
    // takeover: the stream ends about the grace period after the kill (±0.3 s, the lease's renewal), with slack for
    // the event's way to the viewers on a busy machine.
    expect(took).toBeGreaterThan(GRACE_S * 1000 - 1000)
    expect(took).toBeLessThan(GRACE_S * 1000 + 1200)
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
