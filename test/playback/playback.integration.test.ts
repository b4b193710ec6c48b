import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { join } from 'node:path'
import { type RunningServer, startServer } from '../support/server.ts'
import { tempDir } from '../support/tmp.ts'
import type { Frame, WsClient } from '../support/ws-client.ts'
import { api, makeLibrary, playbackSocket, settled } from './support.ts'

const SESSION_KEYS = ['currentTime', 'deviceId', 'isPlaying', 'track', 'trackId', 'updatedAt']

let server: RunningServer
let tracks: { a: string; b: string }
let aliceToken: string
let bobToken: string
const audio = tempDir('airwave-playback-audio-')

beforeAll(async () => {
  tracks = await makeLibrary(audio.path)
  server = await startServer({ AUDIO_FILES_DIR: audio.path })
  aliceToken = await server.token('alice')
  bobToken = await server.token('bob')
})

afterAll(async () => {
  await server?.stop()
  audio.remove()
})

/** Each user's two devices, connected and ready; closed at the end of the test. */
async function devices() {
  const sockets = {
    alicePhone: await playbackSocket(server, aliceToken, 'alice-phone'),
    aliceLaptop: await playbackSocket(server, aliceToken, 'alice-laptop'),
    bobPhone: await playbackSocket(server, bobToken, 'bob-phone'),
    bobLaptop: await playbackSocket(server, bobToken, 'bob-laptop'),
  }
  return {
    ...sockets,
    close: () => {
      for (const socket of Object.values(sockets)) socket.close()
    },
  }
}

/** The first `event` frame `client` received from index `from` on (it may already be there). */
const eventSince = (client: WsClient, from: number | undefined, event: string) =>
  client.next((f) => f.event === event, 10_000, from)

const sessionEvents = (client: WsClient, from = 0): Frame[] =>
  client.frames.slice(from).filter((f) => ['trackPlaying', 'trackPaused', 'trackUpdated'].includes(f.event))

function expectSession(data: Record<string, unknown>, expected: Record<string, unknown>, near?: number) {
  expect(Object.keys(data).sort()).toEqual(SESSION_KEYS)
  const { currentTime, updatedAt, track, ...rest } = data
  expect(rest).toEqual(expected)
  expect(typeof updatedAt).toBe('string')
  expect(Date.parse(String(updatedAt))).toBeGreaterThan(Date.now() - 60_000)
  if (near !== undefined) {
    expect(Number(currentTime)).toBeGreaterThanOrEqual(near)
    expect(Number(currentTime)).toBeLessThan(near + 1)
  }
  expect((track as { id: string }).id).toBe(String(expected.trackId))
}

describe('playback sessions against the real server', () => {
  test("each user's changes reach all of that user's sockets, field by field, and never the other user's", async () => {
    const d = await devices()
    try {
      d.alicePhone.emit('playTrack', { trackId: tracks.a, currentTime: 5, userId: 'alice' })
      const [alicePhone, aliceLaptop] = await Promise.all([
        d.alicePhone.nextEvent('trackPlaying'),
        d.aliceLaptop.nextEvent('trackPlaying'),
      ])
      // `track` is the track exactly as the library lists it.
      const library = (await api(server, '/api/tracks', aliceToken)).body.data as Array<{ id: string }>
      const listed = library.find((t) => t.id === tracks.a)
      expect(listed).toMatchObject({ title: 'song-a', format: 'mp3', uploaded: false })
      for (const frame of [alicePhone, aliceLaptop]) {
        expectSession(frame.data, { trackId: tracks.a, isPlaying: true, deviceId: 'alice-phone' }, 5)
        expect(frame.data.track).toEqual(listed as object)
      }
      expect(aliceLaptop.data.updatedAt).toBe(alicePhone.data.updatedAt)

      d.bobLaptop.emit('pauseTrack', { trackId: tracks.b, currentTime: 12 })
      const [bobPhone, bobLaptop] = await Promise.all([
        d.bobPhone.nextEvent('trackPaused'),
        d.bobLaptop.nextEvent('trackPaused'),
      ])
      for (const frame of [bobPhone, bobLaptop]) {
        expectSession(frame.data, { trackId: tracks.b, isPlaying: false, deviceId: 'bob-laptop' })
        expect(frame.data.currentTime).toBe(12)
      }

      // The phone leads (it played): the laptop's position report is ignored, the phone's moves the session.
      d.aliceLaptop.emit('updateStreaming', { trackId: tracks.a, currentTime: 30, isPlaying: true })
      d.alicePhone.emit('updateStreaming', { trackId: tracks.a, currentTime: 9.5, isPlaying: false })
      const updated = await d.aliceLaptop.nextEvent('trackUpdated')
      expectSession(updated.data, { trackId: tracks.a, isPlaying: false, deviceId: 'alice-phone' })
      expect(updated.data.currentTime).toBe(9.5)

      await Promise.all([d.alicePhone, d.aliceLaptop, d.bobPhone, d.bobLaptop].map(settled))
      for (const socket of [d.alicePhone, d.aliceLaptop]) {
        expect(sessionEvents(socket).map((f) => [f.event, f.data.trackId, f.data.deviceId])).toEqual([
          ['trackPlaying', tracks.a, 'alice-phone'],
          ['trackUpdated', tracks.a, 'alice-phone'],
        ])
      }
      for (const socket of [d.bobPhone, d.bobLaptop]) {
        expect(sessionEvents(socket).map((f) => [f.event, f.data.trackId, f.data.deviceId])).toEqual([
          ['trackPaused', tracks.b, 'bob-laptop'],
        ])
      }
      // getCurrentState answers each user with their own session, only to the socket that asked.
      const aliceState = await d.aliceLaptop.request('getCurrentState', {}, 'trackState')
      expectSession(aliceState.data, { trackId: tracks.a, isPlaying: false, deviceId: 'alice-phone' })
      expect(aliceState.data.currentTime).toBe(9.5)
      const bobState = await d.bobPhone.request('getCurrentState', { userId: 'bob' }, 'trackState')
      expectSession(bobState.data, { trackId: tracks.b, isPlaying: false, deviceId: 'bob-laptop' })
      expect(bobState.data.currentTime).toBe(12)
    } finally {
      d.close()
    }
  })

  test("REST changes are the same session: both of that user's sockets hear them, the other user's do not", async () => {
    const d = await devices()
    try {
      const bobFrom = [d.bobPhone.frames.length, d.bobLaptop.frames.length]
      let from = [d.alicePhone.frames.length, d.aliceLaptop.frames.length]
      const played = await api(server, `/tracks/play/${tracks.b}`, aliceToken, { body: { currentTime: 2 } })
      expect(played.status).toBe(200)
      expect(played.body.status).toBe('success')
      const data = played.body.data as Record<string, unknown>
      expectSession(data, { trackId: tracks.b, isPlaying: true, deviceId: 'http' }, 2)
      const [phone, laptop] = await Promise.all([
        eventSince(d.alicePhone, from[0], 'trackPlaying'),
        eventSince(d.aliceLaptop, from[1], 'trackPlaying'),
      ])
      for (const frame of [phone, laptop]) {
        expectSession(frame.data, { trackId: tracks.b, isPlaying: true, deviceId: 'http' }, 2)
        expect(frame.data.updatedAt).toBe(data.updatedAt)
      }

      await Bun.sleep(300)
      from = [d.alicePhone.frames.length, d.aliceLaptop.frames.length]
      const paused = await api(server, `/api/tracks/pause/${tracks.b}`, aliceToken, { method: 'POST' })
      expect(paused.status).toBe(200)
      const pausedAt = Number((paused.body.data as { currentTime: number }).currentTime)
      // Without a body, pause stops where the session had got to.
      expect(pausedAt).toBeGreaterThanOrEqual(2.3)
      expect(pausedAt).toBeLessThan(3)
      expect((await eventSince(d.aliceLaptop, from[1], 'trackPaused')).data.currentTime).toBe(pausedAt)
      from = [d.alicePhone.frames.length, d.aliceLaptop.frames.length]

      const updated = await api(server, `/api/tracks/update-state/${tracks.b}`, aliceToken, {
        method: 'POST',
        body: { currentTime: 15, isPlaying: true },
      })
      expectSession(updated.body.data as Record<string, unknown>, {
        trackId: tracks.b,
        isPlaying: true,
        deviceId: 'http',
      })
      const heard = await eventSince(d.alicePhone, from[0], 'trackUpdated')
      expectSession(heard.data, { trackId: tracks.b, isPlaying: true, deviceId: 'http' }, 15)
      await Bun.sleep(200)
      for (const path of ['/tracks/current-state', '/api/tracks/current-state']) {
        const current = await api(server, path, aliceToken)
        expect(current.status).toBe(200)
        const state = current.body.data as Record<string, unknown>
        expectSession(state, { trackId: tracks.b, isPlaying: true, deviceId: 'http' }, 15.2)
      }

      await Promise.all([d.bobPhone, d.bobLaptop].map(settled))
      expect(sessionEvents(d.bobPhone, bobFrom[0])).toEqual([])
      expect(sessionEvents(d.bobLaptop, bobFrom[1])).toEqual([])
    } finally {
      d.close()
    }
  })

  test("a userId that is not the token's is refused over WS (error event) and REST (403); nothing changes", async () => {
    const d = await devices()
    try {
      const before = await api(server, '/tracks/current-state', bobToken)
      const refused = await d.alicePhone.request('playTrack', { trackId: tracks.a, userId: 'bob' }, [
        'error',
        'trackPlaying',
      ])
      expect(refused).toEqual({
        event: 'error',
        data: { code: 'USER_MISMATCH', message: 'userId does not match the token' },
      })
      const rest = await api(server, `/tracks/update-state/${tracks.a}`, aliceToken, {
        method: 'POST',
        body: { currentTime: 1, isPlaying: true, userId: 'bob' },
      })
      expect(rest).toEqual({
        status: 403,
        body: { status: 'error', message: 'userId does not match the token', code: 'USER_MISMATCH' },
      })
      await Promise.all([d.alicePhone, d.aliceLaptop, d.bobPhone].map(settled))
      for (const socket of [d.alicePhone, d.aliceLaptop, d.bobPhone])
        expect(sessionEvents(socket)).toEqual([])
      expect(await api(server, '/tracks/current-state', bobToken)).toEqual(before)
    } finally {
      d.close()
    }
  })

  test('a socket without a token gets an error for every playback event; a bad token is closed with 4401', async () => {
    const d = await devices()
    const { WsClient } = await import('../support/ws-client.ts')
    const anonymous = await WsClient.open(server.url)
    try {
      const events: Array<[string, Record<string, unknown>]> = [
        ['playTrack', { trackId: tracks.a }],
        ['pauseTrack', { trackId: tracks.a, currentTime: 1 }],
        ['updateStreaming', { trackId: tracks.a, currentTime: 1, isPlaying: true }],
        ['getCurrentState', {}],
      ]
      for (const [event, data] of events) {
        const reply = await anonymous.request(event, data, ['error', 'trackState', 'trackPlaying'])
        expect(reply.event).toBe('error')
        expect(reply.data.code).toBe('UNAUTHORIZED')
      }
      await Promise.all([d.alicePhone, d.bobPhone].map(settled))
      expect(sessionEvents(d.alicePhone)).toEqual([])
      expect(sessionEvents(d.bobPhone)).toEqual([])

      const forged = await WsClient.open(server.url, { token: `${aliceToken}x` })
      await forged.next((f) => f.event === 'error').catch(() => undefined)
      while (forged.closeCode === undefined) await Bun.sleep(10)
      expect(forged.frames).toEqual([
        { event: 'error', data: { code: 'INVALID_TOKEN', message: 'Invalid or expired token' } },
      ])
      expect(forged.closeCode).toBe(4401)
      expect((await api(server, '/tracks/current-state', undefined)).status).toBe(401)
    } finally {
      anonymous.close()
      d.close()
    }
  })

  test("another user's upload is TRACK_NOT_FOUND for everyone else; its owner plays it", async () => {
    const d = await devices()
    try {
      const form = new FormData()
      form.append('file', Bun.file(join(audio.path, 'song-b.mp3')), 'bobs-own.mp3')
      const uploaded = await fetch(`${server.url}/api/tracks`, {
        method: 'POST',
        headers: { authorization: `Bearer ${bobToken}` },
        body: form,
      })
      expect(uploaded.status).toBe(201)
      const upload = ((await uploaded.json()) as { data: { id: string } }).data.id
      const refused = await d.alicePhone.request('playTrack', { trackId: upload }, ['error', 'trackPlaying'])
      expect(refused).toEqual({
        event: 'error',
        data: { code: 'TRACK_NOT_FOUND', message: `Track ${upload} not found` },
      })
      expect((await api(server, `/api/tracks/play/${upload}`, aliceToken, { method: 'POST' })).status).toBe(
        404,
      )
      d.bobLaptop.emit('playTrack', { trackId: upload, currentTime: 1 })
      const played = await d.bobPhone.nextEvent('trackPlaying')
      expect(played.data).toMatchObject({ trackId: upload, track: { id: upload, uploaded: true } })
      await settled(d.aliceLaptop)
      expect(sessionEvents(d.aliceLaptop)).toEqual([])
    } finally {
      d.close()
    }
  })

  test('an unknown track is TRACK_NOT_FOUND (error event, REST 404) and nothing changes', async () => {
    const d = await devices()
    try {
      const before = await api(server, '/tracks/current-state', aliceToken)
      const reply = await d.alicePhone.request('playTrack', { trackId: 'no-such-track' }, [
        'error',
        'trackPlaying',
      ])
      expect(reply).toEqual({
        event: 'error',
        data: { code: 'TRACK_NOT_FOUND', message: 'Track no-such-track not found' },
      })
      for (const path of [
        '/tracks/play/no-such-track',
        '/api/tracks/pause/no-such-track',
        '/tracks/update-state/no-such-track',
      ]) {
        const body = path.includes('update-state') ? { currentTime: 1, isPlaying: true } : undefined
        expect(await api(server, path, aliceToken, { method: 'POST', body })).toEqual({
          status: 404,
          body: { status: 'error', message: 'Track no-such-track not found', code: 'TRACK_NOT_FOUND' },
        })
      }
      await Promise.all([d.alicePhone, d.aliceLaptop].map(settled))
      expect(sessionEvents(d.aliceLaptop)).toEqual([])
      expect(await api(server, '/tracks/current-state', aliceToken)).toEqual({
        ...before,
        body: {
          ...before.body,
          data: { ...(before.body.data as object), currentTime: expect.any(Number) },
        },
      })
    } finally {
      d.close()
    }
  })

  test('malformed, unknown and out-of-range messages get error events and change nothing', async () => {
    const d = await devices()
    try {
      const ws = d.alicePhone
      const cases: Array<[unknown, string, string]> = [
        [
          { event: 'updateStreaming', data: { trackId: tracks.a, currentTime: -1, isPlaying: true } },
          'INVALID_MESSAGE',
          'currentTime',
        ],
        [
          { event: 'updateStreaming', data: { trackId: tracks.a, currentTime: 3 } },
          'INVALID_MESSAGE',
          'isPlaying',
        ],
        [
          { event: 'pauseTrack', data: { trackId: tracks.a, currentTime: 'soon' } },
          'INVALID_MESSAGE',
          'currentTime',
        ],
        [{ event: 'playTrack', data: { trackId: '' } }, 'INVALID_MESSAGE', 'trackId'],
        [{ event: 'playTrack', data: { trackId: tracks.a, timestamp: 1.5 } }, 'INVALID_MESSAGE', 'timestamp'],
        [{ event: 'seekTrack', data: { trackId: tracks.a } }, 'UNKNOWN_EVENT', 'seekTrack'],
      ]
      for (const [message, code, mentions] of cases) {
        const from = ws.frames.length
        ws.emit((message as Frame).event, (message as Frame).data)
        const reply = await ws.next(() => true, 10_000, from)
        expect(reply.event).toBe('error')
        expect(reply.data.code).toBe(code)
        expect(String(reply.data.message)).toContain(mentions)
      }
      // Text that is not JSON, and JSON numbers too large to be finite (1e999 parses as Infinity).
      for (const text of [
        '{"event":"playTrack","data":',
        `{"event":"updateStreaming","data":{"trackId":"${tracks.a}","currentTime":1e999,"isPlaying":true}}`,
      ]) {
        const from = ws.frames.length
        ws.sendText(text)
        const reply = await ws.next(() => true, 10_000, from)
        expect(reply).toMatchObject({ event: 'error', data: { code: 'INVALID_MESSAGE' } })
      }
      // The same checks on REST bodies: 400 in the error shape.
      for (const body of [{ currentTime: -1, isPlaying: true }, { currentTime: 1 }, undefined]) {
        const refused = await api(server, `/tracks/update-state/${tracks.a}`, aliceToken, {
          method: 'POST',
          body,
        })
        expect(refused.status).toBe(400)
        expect(refused.body).toMatchObject({ status: 'error', code: 'VALIDATION' })
      }
      const negative = await api(server, `/api/tracks/play/${tracks.a}`, aliceToken, {
        body: { currentTime: -5 },
      })
      expect(negative.status).toBe(400)
      await Promise.all([d.alicePhone, d.aliceLaptop].map(settled))
      expect(sessionEvents(d.alicePhone)).toEqual([])
      expect(sessionEvents(d.aliceLaptop)).toEqual([])
    } finally {
      d.close()
    }
  })

  test("a change stamped before the session's last change is refused: only its sender hears the current state", async () => {
    const d = await devices()
    try {
      d.alicePhone.emit('playTrack', { trackId: tracks.a, currentTime: 20 })
      const played = await d.aliceLaptop.nextEvent('trackPlaying')
      // The laptop was offline a minute ago and now sends what it did then.
      const reply = await d.aliceLaptop.request(
        'updateStreaming',
        { trackId: tracks.b, currentTime: 1, isPlaying: false, timestamp: Date.now() - 60_000 },
        ['trackState', 'trackUpdated'],
      )
      expect(reply.event).toBe('trackState')
      expect(reply.data).toMatchObject({
        stale: true,
        trackId: tracks.a,
        isPlaying: true,
        deviceId: 'alice-phone',
        updatedAt: played.data.updatedAt,
      })
      expect(Number(reply.data.currentTime)).toBeGreaterThanOrEqual(20)
      await settled(d.alicePhone)
      expect(sessionEvents(d.alicePhone).map((f) => f.event)).toEqual(['trackPlaying'])
      // A timestamp from the future counts as now: it cannot lock other devices out.
      d.aliceLaptop.emit('pauseTrack', {
        trackId: tracks.a,
        currentTime: 21,
        timestamp: Date.now() + 3_600_000,
      })
      const paused = await d.alicePhone.nextEvent('trackPaused')
      expect(Date.parse(String(paused.data.updatedAt))).toBeLessThanOrEqual(Date.now())
      d.alicePhone.emit('playTrack', { trackId: tracks.a })
      const resumed = await d.aliceLaptop.nextEvent('trackPlaying')
      expect(resumed.data).toMatchObject({ trackId: tracks.a, isPlaying: true, deviceId: 'alice-phone' })
      // Resumed where it was paused (plus the milliseconds until the event was sent).
      expect(Number(resumed.data.currentTime)).toBeGreaterThanOrEqual(21)
      expect(Number(resumed.data.currentTime)).toBeLessThan(21.1)
    } finally {
      d.close()
    }
  })

  test('playback actors show in the inspector, without tokens', async () => {
    const d = await devices()
    try {
      d.bobPhone.emit('playTrack', { trackId: tracks.a, currentTime: 1 })
      await d.bobLaptop.nextEvent('trackPlaying')
      const admin = await server.token('root', { role: 'admin' })
      const response = await fetch(`${server.url}/api/v1/inspector/actors`, {
        headers: { authorization: `Bearer ${admin}` },
      })
      const text = await response.text()
      const { actors } = JSON.parse(text) as { actors: Array<Record<string, unknown>> }
      const bob = actors.find((a) => a.id === 'playback:bob')
      expect(bob).toMatchObject({ kind: 'playback', state: 'playing', parent: null })
      expect(bob?.context).toMatchObject({
        userId: 'bob',
        session: { trackId: tracks.a, playing: true, deviceId: 'bob-phone' },
      })
      expect(actors.find((a) => a.id === 'playback:alice')).toMatchObject({ kind: 'playback' })
      for (const token of [aliceToken, bobToken, admin]) expect(text).not.toContain(token)
    } finally {
      d.close()
    }
  })
})
