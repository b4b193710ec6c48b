import { afterAll, describe, expect, test } from 'bun:test'
import { TokenService } from '../../src/identity/tokens.ts'
import { ActorRegistry } from '../../src/platform/actors/registry.ts'
import { openDatabase } from '../../src/platform/db/index.ts'
import { ServiceUnavailableError } from '../../src/platform/errors.ts'
import { PLAYBACK_KIND, PlaybackService, TrackNotFoundError } from '../../src/playback/service.ts'
import { SessionStore } from '../../src/playback/store.ts'
import { Dispatcher } from '../../src/realtime/dispatcher.ts'
import { LocalRoomBroker } from '../../src/realtime/rooms.ts'
import type { Track, TrackCatalog } from '../../src/tracks/catalog.ts'
import { trackJson } from '../../src/tracks/model.ts'

const track = (id: string, ownerId: string | null): Track => ({
  id,
  title: id,
  artist: 'Tester',
  album: null,
  duration: 180,
  bitrate: 128,
  format: 'mp3',
  codec: 'MPEG 1 Layer 3',
  size: 1000,
  mimeType: 'audio/mpeg',
  ownerId,
})

/** A library track everyone sees, and one upload each for alice and bob. */
const TRACKS = [track('library-song', null), track('alice-upload', 'alice'), track('bob-upload', 'bob')]
const catalog: TrackCatalog = {
  find: (trackId, userId) =>
    TRACKS.find((t) => t.id === trackId && (t.ownerId === null || t.ownerId === userId)),
  list: (userId) => TRACKS.filter((t) => t.ownerId === null || t.ownerId === userId),
}

const database = await openDatabase({})
const registry = new ActorRegistry()
const store = new SessionStore(database.db)
const service = new PlaybackService(
  registry,
  store,
  catalog,
  new Dispatcher(new TokenService('service-test-secret-0123456789'), new LocalRoomBroker()),
)
afterAll(async () => {
  await registry.shutdown()
  await service.close()
  await database.close()
})

describe('playback service', () => {
  test("a user's own upload and the library play; someone else's upload is TRACK_NOT_FOUND and changes nothing", async () => {
    const mine = await service.change('alice', { type: 'play', trackId: 'alice-upload', deviceId: 'phone' })
    expect(mine).toMatchObject({ outcome: 'applied', session: { trackId: 'alice-upload', isPlaying: true } })
    expect(mine.session.track).toEqual(trackJson(TRACKS[1] as Track))
    const before = await service.current('alice')
    await expect(
      service.change('alice', { type: 'play', trackId: 'bob-upload', deviceId: 'phone' }),
    ).rejects.toBeInstanceOf(TrackNotFoundError)
    await expect(
      service.change('alice', {
        type: 'update',
        trackId: 'bob-upload',
        position: 1,
        playing: false,
        deviceId: 'phone',
      }),
    ).rejects.toThrow('Track bob-upload not found')
    const after = await service.current('alice')
    expect({ ...after, currentTime: 0 }).toEqual({ ...before, currentTime: 0 })
    expect(
      (await service.change('bob', { type: 'play', trackId: 'library-song', deviceId: 'tv' })).outcome,
    ).toBe('applied')
  })

  test('concurrent first requests of a user restore one actor from the store and apply in order', async () => {
    store.save('carol', {
      trackId: 'library-song',
      position: 42,
      duration: 180,
      playing: false,
      updatedAt: Date.now() - 10_000,
      deviceId: 'old-phone',
    })
    expect(await store.drain(5000)).toBe(true)
    expect(registry.get(PLAYBACK_KIND, 'carol')).toBeUndefined()
    const [state, played, paused] = await Promise.all([
      service.current('carol'),
      service.change('carol', { type: 'play', trackId: 'library-song', deviceId: 'laptop' }),
      service.change('carol', { type: 'pause', trackId: 'library-song', position: 50, deviceId: 'laptop' }),
    ])
    expect(state).toMatchObject({ currentTime: 42, isPlaying: false, deviceId: 'old-phone' })
    // Resumed from the restored position, then paused.
    expect(played.session).toMatchObject({ isPlaying: true, deviceId: 'laptop' })
    expect(played.session.currentTime).toBeGreaterThanOrEqual(42)
    expect(played.session.currentTime).toBeLessThan(42.5)
    expect(paused.session).toMatchObject({ currentTime: 50, isPlaying: false })
    expect(registry.list(PLAYBACK_KIND).filter((a) => a.key === 'carol')).toHaveLength(1)
  })

  test('a session the database cannot load is a 503 SESSIONS_UNAVAILABLE, and no empty session replaces it', async () => {
    const failing = new SessionStore(database.db)
    failing.load = async () => {
      throw new Error('connection refused')
    }
    const otherRegistry = new ActorRegistry()
    const offline = new PlaybackService(
      otherRegistry,
      failing,
      catalog,
      new Dispatcher(new TokenService('service-test-secret-0123456789'), new LocalRoomBroker()),
    )
    const refused = offline.current('dave')
    await expect(refused).rejects.toBeInstanceOf(ServiceUnavailableError)
    await expect(refused).rejects.toMatchObject({ status: 503, code: 'SESSIONS_UNAVAILABLE' })
    await expect(
      offline.change('dave', { type: 'play', trackId: 'library-song', deviceId: 'phone' }),
    ).rejects.toMatchObject({ status: 503 })
    expect(otherRegistry.get(PLAYBACK_KIND, 'dave')).toBeUndefined()
    await otherRegistry.shutdown()
    await offline.close()
  })
})
