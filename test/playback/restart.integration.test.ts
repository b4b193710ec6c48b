import { afterAll, describe, expect, test } from 'bun:test'
import { createPostgresDatabase } from '../support/databases.ts'
import { type RunningServer, startServer } from '../support/server.ts'
import { tempDir } from '../support/tmp.ts'
import { api, makeLibrary, playbackSocket } from './support.ts'

const audio = tempDir('airwave-playback-audio-')
const tracksReady = makeLibrary(audio.path)
afterAll(() => audio.remove())

interface Backend {
  name: string
  env(): Promise<{ env: Record<string, string>; cleanup(): Promise<void> }>
}

const backends: Backend[] = [
  {
    name: 'PGlite',
    env: async () => {
      const data = tempDir('airwave-playback-data-')
      return { env: { DATA_DIR: data.path }, cleanup: async () => data.remove() }
    },
  },
]
const postgresUrl = process.env.TEST_DATABASE_URL
if (postgresUrl) {
  backends.push({
    name: 'PostgreSQL',
    env: async () => {
      const data = tempDir('airwave-playback-data-')
      const database = await createPostgresDatabase(postgresUrl)
      return {
        env: { DATA_DIR: data.path, DATABASE_URL: database.url },
        cleanup: async () => {
          data.remove()
          await database.drop()
        },
      }
    },
  })
}

const state = async (server: RunningServer, user: string) =>
  (await api(server, '/tracks/current-state', await server.token(user))).body.data as Record<string, unknown>

for (const backend of backends) {
  describe(`playback sessions across restarts on ${backend.name}`, () => {
    test('each user finds their session after a restart: playing ones play on from where they were, paused ones stay', async () => {
      const tracks = await tracksReady
      const { env: base, cleanup } = await backend.env()
      const env = { ...base, AUDIO_FILES_DIR: audio.path }
      let server = await startServer(env)
      try {
        const alice = await playbackSocket(server, await server.token('alice'), 'alice-phone')
        alice.emit('playTrack', { trackId: tracks.a, currentTime: 10 })
        await alice.nextEvent('trackPlaying')
        // Agrees with where the session says alice is: not written at once, only by the flush at shutdown.
        const last = (
          await alice.request(
            'updateStreaming',
            { trackId: tracks.a, currentTime: 10.05, isPlaying: true },
            'trackUpdated',
          )
        ).data
        const bobPaused = await api(server, `/api/tracks/pause/${tracks.b}`, await server.token('bob'), {
          method: 'POST',
          body: { currentTime: 7.25 },
        })
        expect(bobPaused.status).toBe(200)
        alice.close()
        expect(await server.stop()).toBe(0)

        await Bun.sleep(1500)
        server = await startServer(env)
        const restored = await state(server, 'alice')
        expect(restored).toMatchObject({
          trackId: tracks.a,
          isPlaying: true,
          deviceId: 'alice-phone',
          updatedAt: last.updatedAt,
          track: { id: tracks.a, title: 'song-a' },
        })
        // Played on while the server was down: 10.05 s plus the time since that update.
        const expected = 10.05 + (Date.now() - Date.parse(String(last.updatedAt))) / 1000
        expect(Number(restored.currentTime)).toBeGreaterThan(11.5)
        expect(Math.abs(Number(restored.currentTime) - expected)).toBeLessThan(0.5)
        expect(await state(server, 'bob')).toMatchObject({
          trackId: tracks.b,
          currentTime: 7.25,
          isPlaying: false,
          deviceId: 'http',
          updatedAt: (bobPaused.body.data as { updatedAt: string }).updatedAt,
        })
        expect(await state(server, 'carol')).toEqual({
          trackId: null,
          currentTime: 0,
          isPlaying: false,
          updatedAt: null,
          track: null,
          deviceId: null,
        })
        // A socket of the restarted server gets the same session.
        const laptop = await playbackSocket(server, await server.token('alice'), 'alice-laptop')
        const viaSocket = await laptop.request('getCurrentState', {}, 'trackState')
        expect(viaSocket.data).toMatchObject({
          trackId: tracks.a,
          isPlaying: true,
          updatedAt: last.updatedAt,
        })

        // A pause is written at once: it survives even a crash (no shutdown flush).
        laptop.emit('pauseTrack', { trackId: tracks.a, currentTime: 3 })
        const paused = await laptop.nextEvent('trackPaused')
        await Bun.sleep(300)
        laptop.close()
        expect(await server.stop('SIGKILL')).not.toBe(0)
        server = await startServer(env)
        expect(await state(server, 'alice')).toMatchObject({
          trackId: tracks.a,
          currentTime: 3,
          isPlaying: false,
          deviceId: 'alice-laptop',
          updatedAt: paused.data.updatedAt,
        })
      } finally {
        await server.stop()
        await cleanup()
      }
    })
  })
}
