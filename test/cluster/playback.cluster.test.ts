/**
 * Playback across a three-instance cluster behind nginx (issue 14, point 3): one user's devices on different
 * instances, over `/ws` and Socket.IO, follow one session; REST on a third instance acts on it; a change acknowledged
 * by an instance survives its kill -9; a Redis restart degrades the cluster to per-instance operation, and it
 * recovers by itself.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { makeLibrary } from '../playback/support.ts'
import { skipClusterTests, startCluster, type TestCluster } from '../support/cluster.ts'
import { SioRecorder } from '../support/socketio-client.ts'
import { until } from '../support/until.ts'
import { type Frame, WsClient } from '../support/ws-client.ts'

type Json = Record<string, unknown>

describe.skipIf(skipClusterTests('playback.cluster.test.ts'))('playback in a cluster', () => {
  let cluster: TestCluster
  let tracks: { a: string; b: string }
  const open: Array<{ close(): void }> = []

  beforeAll(async () => {
    cluster = await startCluster({
      prepare: async ({ audioDir }) => {
        tracks = await makeLibrary(audioDir)
      },
    })
    const token = await cluster.token('librarian')
    // Every instance scanned the shared folder: the same ids everywhere.
    for (const url of cluster.urls) {
      await until(
        async () => {
          const response = await fetch(`${url}/api/tracks`, { headers: { authorization: `Bearer ${token}` } })
          return ((await response.json()) as { data?: Array<{ id: string }> }).data?.map((t) => t.id) ?? []
        },
        (ids) => ids.includes(tracks.a) && ids.includes(tracks.b),
      )
    }
  }, 120_000)
  afterAll(async () => {
    for (const client of open) client.close()
    await cluster?.stop()
  })

  /** A `/ws` device on `base`, ready once it was answered (it is in its user's room). */
  const wsDevice = async (base: string, token: string, device: string) => {
    const client = await WsClient.open(base, { token, device })
    open.push(client)
    await client.request('getCurrentState', {}, 'trackState')
    return client
  }
  /** A Socket.IO device on `base`: WebSocket only, or the client's default (long-polling, then the upgrade). */
  const sioDevice = async (base: string, token: string, device: string, transports = ['websocket']) => {
    const client = await SioRecorder.connect(base, { auth: { token }, query: { device }, transports })
    open.push(client)
    await client.socket.emitWithAck('getCurrentState', {})
    return client
  }
  const rest = async (base: string, path: string, token: string, body?: Json) => {
    const response = await fetch(`${base}${path}`, {
      method: body ? 'POST' : 'GET',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: body ? JSON.stringify(body) : undefined,
    })
    return { status: response.status, body: (await response.json()) as { data: Json } }
  }
  const announced = (frames: Frame[], event: string) =>
    frames.filter((f) => f.event === event).map((f) => f.data)

  test('devices on three instances over /ws and Socket.IO follow one session; REST on a third acts on it', async () => {
    const token = await cluster.token('alice')
    const phone = await wsDevice(cluster.urls[0] as string, token, 'phone')
    const laptop = await sioDevice(cluster.urls[1] as string, token, 'laptop')
    // Through nginx, as the documents' client connects: long-polling first, then the upgrade to a WebSocket.
    const tablet = await sioDevice(cluster.url, token, 'tablet', ['polling', 'websocket'])
    await until(
      () => tablet.socket.io.engine.transport.name,
      (name) => name === 'websocket',
    )

    phone.emit('playTrack', { trackId: tracks.a, currentTime: 10 })
    for (const device of [laptop, tablet]) {
      const { data } = await device.next((f) => f.event === 'trackPlaying')
      expect(data).toMatchObject({ trackId: tracks.a, isPlaying: true, deviceId: 'phone' })
    }
    await phone.next((f) => f.event === 'trackPlaying')

    laptop.socket.emit('pauseTrack', { trackId: tracks.a, currentTime: 20 })
    const paused = await phone.next((f) => f.event === 'trackPaused')
    expect(paused.data).toMatchObject({ currentTime: 20, isPlaying: false, deviceId: 'laptop' })

    // Instance 0 knows the laptop leads now: the phone's position report is ignored there, never announced.
    phone.emit('updateStreaming', { trackId: tracks.a, currentTime: 5, isPlaying: true })
    const state = await phone.request('getCurrentState', {}, 'trackState')
    expect(state.data).toMatchObject({ currentTime: 20, isPlaying: false, deviceId: 'laptop' })
    laptop.socket.emit('updateStreaming', { trackId: tracks.a, currentTime: 25, isPlaying: false })
    await phone.next((f) => f.event === 'trackUpdated')
    await until(
      () => announced(laptop.frames, 'trackUpdated').length,
      (n) => n === 1,
    )
    expect(announced(laptop.frames, 'trackUpdated')).toEqual([expect.objectContaining({ currentTime: 25 })])

    // And a change older than the laptop's, made on instance 0, is refused there as stale.
    const stale = await phone.request(
      'playTrack',
      { trackId: tracks.b, timestamp: Date.parse(paused.data.updatedAt as string) - 60_000 },
      'trackState',
    )
    expect(stale.data).toMatchObject({ stale: true, trackId: tracks.a, deviceId: 'laptop' })

    // REST on the third instance, which has never seen this user: the same session, heard by every device.
    const before = await rest(cluster.urls[2] as string, '/api/tracks/current-state', token)
    expect(before.body.data).toMatchObject({ trackId: tracks.a, currentTime: 25, deviceId: 'laptop' })
    const played = await rest(cluster.urls[2] as string, `/api/tracks/play/${tracks.b}`, token, {
      currentTime: 3,
    })
    expect(played.status).toBe(200)
    for (const device of [phone, laptop, tablet]) {
      const { data } = await device.next((f) => f.event === 'trackPlaying' && f.data.trackId === tracks.b)
      expect(data).toMatchObject({ isPlaying: true, deviceId: 'http' })
    }
    const everywhere = await Promise.all(
      cluster.urls.map((url) => rest(url, '/api/tracks/current-state', token)),
    )
    for (const { body } of everywhere)
      expect(body.data).toMatchObject({ trackId: tracks.b, deviceId: 'http' })

    // Every device heard the same announcements in the same order.
    const names = (frames: Frame[]) =>
      frames.filter((f) => f.event.startsWith('track') && f.event !== 'trackState').map((f) => f.event)
    expect(names(laptop.frames)).toEqual(names(phone.frames))
    expect(names(tablet.frames)).toEqual(names(phone.frames))
  })

  test('a change acknowledged by an instance survives its kill -9: the others show it, a survivor saves it', async () => {
    const token = await cluster.token('kim')
    const listener = await wsDevice(cluster.urls[0] as string, token, 'listener')
    const victim = cluster.urls[2] as string
    expect((await rest(victim, `/api/tracks/play/${tracks.a}`, token, { currentTime: 10 })).status).toBe(200)
    // Within the write interval of the first change: this one waits in the instance's memory to be written.
    const acknowledged = await rest(victim, `/api/tracks/pause/${tracks.a}`, token, { currentTime: 42 })
    expect(acknowledged.status).toBe(200)
    await cluster.kill(2)
    try {
      await listener.next((f) => f.event === 'trackPaused')
      for (const url of cluster.urls.slice(0, 2)) {
        const { body } = await rest(url, '/api/tracks/current-state', token)
        expect(body.data).toMatchObject({ trackId: tracks.a, currentTime: 42, isPlaying: false })
      }
      const [row] = await until(
        () =>
          cluster.sql`select position, is_playing from playback_sessions where user_id = 'kim'` as Promise<
            Array<{ position: number; is_playing: boolean }>
          >,
        (rows) => rows[0]?.position === 42,
      )
      expect(row?.is_playing).toBe(false)
    } finally {
      await cluster.restart(2)
    }
  }, 60_000)

  test('Redis restarted mid-test: each instance carries on alone, then the cluster is whole again', async () => {
    const token = await cluster.token('rae')
    const phone = await wsDevice(cluster.urls[0] as string, token, 'phone')
    const laptop = await wsDevice(cluster.urls[1] as string, token, 'laptop')
    phone.emit('playTrack', { trackId: tracks.a, currentTime: 1 })
    await laptop.next((f) => f.event === 'trackPlaying')

    await cluster.redis.kill()
    const degraded = await until(
      () => cluster.health(0),
      (h) => h.cluster.status === 'degraded',
    )
    expect(degraded).toMatchObject({ status: 'ok', cluster: { redis: 'unreachable' } })
    // The phone's instance still serves it: its change is applied and announced there.
    const during = await phone.request('pauseTrack', { trackId: tracks.a, currentTime: 15 }, 'trackPaused')
    expect(during.data).toMatchObject({ currentTime: 15, deviceId: 'phone' })
    expect((await rest(cluster.urls[1] as string, '/api/tracks/current-state', token)).status).toBe(200)

    await cluster.redis.restart()
    for (let i = 0; i < cluster.size; i++) {
      await until(
        () => cluster.health(i),
        (h) => h.cluster.status === 'ok' && h.cluster.instances.length === cluster.size,
      )
    }
    // The change made alone is shared once Redis is back: the laptop's instance has it without another change.
    await until(
      async () => (await laptop.request('getCurrentState', {}, 'trackState')).data,
      (session) => session.currentTime === 15 && session.isPlaying === false,
    )
    // And fan-out across instances works again, both ways.
    laptop.emit('playTrack', { trackId: tracks.b, currentTime: 2 })
    const heard = await phone.next((f) => f.event === 'trackPlaying' && f.data.trackId === tracks.b)
    expect(heard.data).toMatchObject({ deviceId: 'laptop' })
    phone.emit('pauseTrack', { trackId: tracks.b, currentTime: 4 })
    await laptop.next((f) => f.event === 'trackPaused' && f.data.currentTime === 4)
  }, 60_000)

  test("Socket.IO long-polling: a session exists on one instance only, so nginx keeps a client's /socket.io/ requests on one", async () => {
    const handshake = await fetch(`${cluster.urls[0]}/socket.io/?EIO=4&transport=polling`)
    const sid = (JSON.parse((await handshake.text()).slice(1)) as { sid: string }).sid
    const connect = (base: string) =>
      fetch(`${base}/socket.io/?EIO=4&transport=polling&sid=${sid}`, {
        method: 'POST',
        headers: { 'content-type': 'text/plain;charset=UTF-8' },
        body: '40',
      })
    // A round-robin balancer would send the session's next request to another instance, which does not know it.
    const elsewhere = await connect(cluster.urls[1] as string)
    expect(elsewhere.status).toBe(400)
    expect(await elsewhere.text()).toContain('Session ID unknown')
    expect((await connect(cluster.urls[0] as string)).status).toBe(200)

    // Through the deployment's nginx, a client on long-polling alone keeps its session over many requests.
    const token = await cluster.token('poller')
    const poller = await sioDevice(cluster.url, token, 'poller', ['polling'])
    for (let n = 0; n < 5; n++) await poller.socket.emitWithAck('getCurrentState', {})
    expect(poller.socket.connected).toBe(true)
    expect(poller.socket.io.engine.transport.name).toBe('polling')
  })
})
