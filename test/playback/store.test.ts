import { describe, expect, test } from 'bun:test'
import type { PlaybackSession } from '../../actors/playback.machine.ts'
import type { Db } from '../../src/platform/db/index.ts'
import { playbackSessions } from '../../src/playback/schema.ts'
import { SessionStore } from '../../src/playback/store.ts'
import { testDatabases } from '../support/databases.ts'

const T0 = Date.UTC(2026, 0, 3, 13, 15, 0)

const session = (over: Partial<PlaybackSession> = {}): PlaybackSession => ({
  trackId: 'song-a',
  position: 12.25,
  duration: 240.5,
  playing: true,
  updatedAt: T0,
  deviceId: 'phone',
  ...over,
})

/** The real database, counting upsert statements, with inserts that fail while `down` is set. */
function observed(db: Db) {
  const state = { down: false, statements: 0 }
  const proxy = new Proxy(db, {
    get(target, prop, receiver) {
      if (prop !== 'insert') return Reflect.get(target, prop, receiver)
      state.statements += 1
      if (state.down) throw new Error('connection refused')
      return Reflect.get(target, prop, receiver)
    },
  })
  return { db: proxy, state }
}

const FAST = { maxBatch: 1000, maxQueued: 3, retryMs: 10, maxRetryMs: 40 }

for (const database of testDatabases()) {
  describe(`playback session store on ${database.name}`, () => {
    test('saves round-trip every field; a user without a session has none', async () => {
      const opened = await database.open()
      try {
        const store = new SessionStore(opened.db)
        expect(await store.load('alice')).toBeUndefined()
        store.save('alice', session())
        store.save('bob', session({ trackId: 'song-b', playing: false, deviceId: 'laptop', duration: 0 }))
        expect(await store.drain(5000)).toBe(true)
        const fresh = new SessionStore(opened.db)
        expect(await fresh.load('alice')).toEqual(session())
        expect(await fresh.load('bob')).toEqual(
          session({ trackId: 'song-b', playing: false, deviceId: 'laptop', duration: 0 }),
        )
      } finally {
        await opened.close()
      }
    })

    test('a session the database refuses for its value (SQLSTATE 22) is dropped; the rest of its batch is written', async () => {
      const opened = await database.open()
      try {
        const store = new SessionStore(opened.db, FAST)
        store.save('alice', session())
        store.save('mallory', session({ deviceId: 'a\u0000b' }))
        store.save('bob', session({ trackId: 'song-b' }))
        expect(await store.drain(5000)).toBe(true)
        const fresh = new SessionStore(opened.db)
        expect(await fresh.load('alice')).toEqual(session())
        expect(await fresh.load('bob')).toEqual(session({ trackId: 'song-b' }))
        expect(await fresh.load('mallory')).toBeUndefined()
      } finally {
        await opened.close()
      }
    })

    test('a queued session is what load returns before it is written; repeated saves write only the newest', async () => {
      const opened = await database.open()
      try {
        const { db, state } = observed(opened.db)
        const store = new SessionStore(db)
        state.down = true
        store.save('alice', session({ position: 1, updatedAt: T0 + 1 }))
        store.save('alice', session({ position: 2, updatedAt: T0 + 2 }))
        store.save('alice', session({ position: 3, updatedAt: T0 + 3 }))
        expect(await store.load('alice')).toMatchObject({ position: 3 })
        state.down = false
        expect(await store.drain(5000)).toBe(true)
        const rows = await opened.db.select().from(playbackSessions)
        expect(rows).toHaveLength(1)
        expect(rows[0]).toMatchObject({ userId: 'alice', position: 3 })
      } finally {
        await opened.close()
      }
    })

    test('many users queued together are written in one statement', async () => {
      const opened = await database.open()
      try {
        const { db, state } = observed(opened.db)
        const store = new SessionStore(db)
        // The first save starts a write at once; the rest queue behind it and go in the next statement.
        for (let i = 0; i < 500; i++) store.save(`user-${i}`, session({ position: i }))
        expect(await store.drain(5000)).toBe(true)
        expect(state.statements).toBe(2)
        const rows = await opened.db.select().from(playbackSessions)
        expect(rows).toHaveLength(500)
      } finally {
        await opened.close()
      }
    })

    test('an older session never replaces a newer row (another instance, a late retry)', async () => {
      const opened = await database.open()
      try {
        const first = new SessionStore(opened.db)
        first.save('alice', session({ position: 90, updatedAt: T0 + 5000, deviceId: 'laptop' }))
        expect(await first.drain(5000)).toBe(true)
        const late = new SessionStore(opened.db)
        late.save('alice', session({ position: 3, updatedAt: T0 }))
        expect(await late.drain(5000)).toBe(true)
        expect(await new SessionStore(opened.db).load('alice')).toMatchObject({
          position: 90,
          deviceId: 'laptop',
          updatedAt: T0 + 5000,
        })
      } finally {
        await opened.close()
      }
    })

    test('writes wait while the database is down, bounded, and land when it is back', async () => {
      const opened = await database.open()
      try {
        const { db, state } = observed(opened.db)
        const store = new SessionStore(db, FAST)
        state.down = true
        for (const user of ['a', 'b', 'c', 'd']) store.save(user, session({ deviceId: user }))
        await Bun.sleep(100)
        // Several retries happened; the oldest waiting session went when a fourth user came past maxQueued.
        expect(state.statements).toBeGreaterThan(2)
        expect(await store.drain(50)).toBe(false)
        state.down = false
        expect(await store.drain(5000)).toBe(true)
        const rows = await opened.db.select().from(playbackSessions)
        expect(rows.map((r) => r.userId).sort()).toEqual(['b', 'c', 'd'])
      } finally {
        await opened.close()
      }
    })
  })
}
