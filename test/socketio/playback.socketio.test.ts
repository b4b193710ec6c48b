/**
 * Playback over Socket.IO with the real clients: socket.io-client v4 written as personal-track-control.md writes it,
 * python-socketio 5.x, and `/ws` beside them. One user's devices on any mix of transports follow each other; another
 * user hears nothing.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { io } from 'socket.io-client'
import { api, makeLibrary } from '../playback/support.ts'
import { HAVE_PYTHON_SOCKETIO, PythonClient } from '../support/python-socketio.ts'
import { type RunningServer, startServer } from '../support/server.ts'
import { SioRecorder } from '../support/socketio-client.ts'
import { tempDir } from '../support/tmp.ts'
import { WsClient } from '../support/ws-client.ts'

let server: RunningServer
let tracks: { a: string; b: string }
let alice: string
let bob: string
/** `ws://host:port`, as the document's client passes it. */
let url: string
const audio = tempDir('airwave-sio-playback-')
const open: Array<{ close(): void }> = []

beforeAll(async () => {
  tracks = await makeLibrary(audio.path)
  server = await startServer({ AUDIO_FILES_DIR: audio.path })
  url = server.url.replace(/^http/, 'ws')
  alice = await server.token('alice')
  bob = await server.token('bob')
}, 60_000)
afterAll(async () => {
  for (const client of open) client.close()
  await server?.stop()
  audio.remove()
})

async function device(token: string | undefined, options: Parameters<typeof SioRecorder.connect>[1] = {}) {
  const recorder = await SioRecorder.connect(url, { ...(token ? { auth: { token } } : {}), ...options })
  open.push(recorder)
  return recorder
}

const SESSION_EVENTS = ['trackPlaying', 'trackPaused', 'trackUpdated']

describe('playback over Socket.IO', () => {
  test("the document's client: two devices of alice follow play, pause and seek; bob hears nothing", async () => {
    const phone = await device(alice)
    const laptop = await device(alice)
    const bobPhone = await device(bob)

    // AudioPlayer.playTrack(trackId, userId)
    phone.socket.emit('playTrack', { trackId: tracks.a, userId: 'alice', currentTime: 0 })
    for (const d of [phone, laptop]) {
      const { data } = await d.next((f) => f.event === 'trackPlaying')
      expect(data).toMatchObject({ trackId: tracks.a, isPlaying: true, deviceId: phone.socket.id })
      expect(data.currentTime).toBeLessThan(1)
      expect((data.track as { id: string }).id).toBe(tracks.a)
    }

    // AudioPlayer.pauseTrack()
    phone.socket.emit('pauseTrack', { trackId: tracks.a, userId: 'alice', currentTime: 3 })
    for (const d of [phone, laptop]) {
      const { data } = await d.next((f) => f.event === 'trackPaused')
      expect(data).toMatchObject({ trackId: tracks.a, isPlaying: false, currentTime: 3 })
    }

    // A seek on the laptop: an explicit play at the new position; the laptop now leads.
    const seeked = laptop.nextEvent('trackPlaying', (data) => Number(data.currentTime) >= 20)
    const phoneSeeked = phone.nextEvent('trackPlaying', (data) => Number(data.currentTime) >= 20)
    laptop.socket.emit('playTrack', { trackId: tracks.a, userId: 'alice', currentTime: 20 })
    expect((await seeked).data.deviceId).toBe(laptop.socket.id)
    expect(Number((await phoneSeeked).data.currentTime)).toBeLessThan(21)

    // The document's timeupdate reports: the phone's (a follower, still where it was) are ignored, the laptop's
    // (the leader) move the session.
    phone.socket.emit('updateStreaming', {
      trackId: tracks.a,
      userId: 'alice',
      currentTime: 3.5,
      isPlaying: true,
    })
    laptop.socket.emit('updateStreaming', {
      trackId: tracks.a,
      userId: 'alice',
      currentTime: 20.5,
      isPlaying: true,
    })
    const updated = await phone.nextEvent('trackUpdated')
    expect(updated.data).toMatchObject({ deviceId: laptop.socket.id })
    // Positions are where the listener is when the event is sent: a millisecond or two on while playing.
    expect(updated.data.currentTime).toBeCloseTo(20.5, 1)

    // getCurrentState() as the document calls it, without data; then the same with an acknowledgement.
    phone.socket.emit('getCurrentState')
    expect((await phone.nextEvent('trackState')).data).toMatchObject({ trackId: tracks.a, isPlaying: true })
    const state = await laptop.socket.emitWithAck('getCurrentState')
    expect(state).toMatchObject({ trackId: tracks.a, isPlaying: true, deviceId: laptop.socket.id })
    expect(state.currentTime).toBeGreaterThanOrEqual(20.5)

    // Bob was connected all along and heard none of it; his own session is untouched.
    expect(bobPhone.frames.filter((f) => SESSION_EVENTS.includes(f.event))).toEqual([])
    expect(await bobPhone.socket.emitWithAck('getCurrentState', {})).toMatchObject({ trackId: null })
    for (const d of [phone, laptop]) expect(d.events('trackUpdated')).toHaveLength(1)
  })

  test("a body userId that is not the token's is refused; anonymous playback is refused; nothing changes", async () => {
    const phone = await device(alice)
    const before = await phone.socket.emitWithAck('getCurrentState')
    phone.socket.emit('playTrack', { trackId: tracks.b, userId: 'bob', currentTime: 0 })
    expect((await phone.nextEvent('error')).data).toEqual({
      code: 'USER_MISMATCH',
      message: 'userId does not match the token',
    })
    // With an acknowledgement, the error is the acknowledgement's argument instead of an event.
    expect(
      await phone.socket.emitWithAck('pauseTrack', { trackId: tracks.b, userId: 'bob', currentTime: 1 }),
    ).toEqual({
      code: 'USER_MISMATCH',
      message: 'userId does not match the token',
    })
    const anonymous = await device(undefined)
    expect(await anonymous.socket.emitWithAck('playTrack', { trackId: tracks.b })).toMatchObject({
      code: 'UNAUTHORIZED',
    })
    const after = await phone.socket.emitWithAck('getCurrentState')
    expect({ ...after, currentTime: 0 }).toEqual({ ...before, currentTime: 0 })
    expect((await api(server, '/tracks/current-state', bob)).body.data).toMatchObject({ trackId: null })
  })

  test('the handshake takes the token from auth.token, the token query or Authorization: Bearer; bad ones are refused', async () => {
    const ways = [
      await device(undefined, { auth: { token: alice } }),
      await device(undefined, { query: { token: alice } }),
      await device(undefined, {
        extraHeaders: { authorization: `Bearer ${alice}` },
        transports: ['polling'],
      }),
      await device(undefined, {
        extraHeaders: { authorization: `Bearer ${alice}` },
        transports: ['websocket'],
      }),
    ]
    for (const way of ways) {
      expect(await way.socket.emitWithAck('getCurrentState', { userId: 'alice' })).toMatchObject({
        trackId: expect.anything(),
      })
    }
    const expired = await server.token('alice', { ttlSeconds: -10 })
    for (const [token, message] of [
      ['garbage', 'UNAUTHORIZED'],
      [`${alice.slice(0, -4)}AAAA`, 'UNAUTHORIZED'],
      [expired, 'TOKEN_EXPIRED'],
    ] as const) {
      for (const transports of [['websocket'], ['polling']]) {
        const socket = io(url, { auth: { token }, transports, reconnection: false, forceNew: true })
        const refused = await new Promise<Error & { data?: unknown }>((resolve) =>
          socket.on('connect_error', resolve),
        )
        socket.close()
        expect(refused.message).toBe(message)
        expect(refused.data).toMatchObject({ code: message })
      }
    }
  })

  test('mixed transports: a phone on Socket.IO long-polling, a laptop on /ws and a Python tablet stay in sync', async () => {
    const phone = await device(alice, { transports: ['polling'] })
    const laptop = await WsClient.open(server.url, { token: alice, device: 'alice-laptop' })
    open.push(laptop)
    const bobPhone = await device(bob)
    const tablet = HAVE_PYTHON_SOCKETIO ? new PythonClient(server.url, { token: alice }) : undefined
    try {
      await tablet?.next((line) => line.event === 'connect')

      laptop.emit('playTrack', { trackId: tracks.b, currentTime: 2 })
      expect(
        (await phone.next((f) => f.event === 'trackPlaying' && f.data.trackId === tracks.b)).data,
      ).toMatchObject({ deviceId: 'alice-laptop', isPlaying: true })
      const tabletPlay = await tablet?.next((l) => l.event === 'trackPlaying')
      if (tablet) expect(tabletPlay?.data).toMatchObject({ trackId: tracks.b, deviceId: 'alice-laptop' })

      // The phone seeks with an acknowledgement: acknowledged (no reply), and the others follow.
      const from = laptop.frames.length
      expect(
        await phone.socket.emitWithAck('playTrack', { trackId: tracks.b, currentTime: 12 }),
      ).toBeUndefined()
      const seeked = await laptop.next((f) => f.event === 'trackPlaying', 10_000, from)
      expect(seeked.data.currentTime).toBeCloseTo(12, 1)
      await tablet?.next(
        (l) => l.event === 'trackPlaying' && (l.data as { currentTime: number }).currentTime >= 12,
      )

      if (tablet) {
        // The tablet pauses (python-socketio's call: an emit with an acknowledgement).
        tablet.call('pauseTrack', { trackId: tracks.b, currentTime: 15 })
        expect((await tablet.next((l) => l.ack === 'pauseTrack')).data).toBeNull()
        for (const d of [phone])
          expect((await d.next((f) => f.event === 'trackPaused')).data).toMatchObject({ currentTime: 15 })
        expect((await laptop.next((f) => f.event === 'trackPaused')).data).toMatchObject({ currentTime: 15 })
        tablet.call('getCurrentState', {})
        const state = await tablet.next((l) => l.ack === 'getCurrentState')
        expect(state.data).toMatchObject({ trackId: tracks.b, isPlaying: false, currentTime: 15 })
      }
      expect(bobPhone.frames.filter((f) => SESSION_EVENTS.includes(f.event))).toEqual([])
    } finally {
      await tablet?.stop()
    }
  })
})
