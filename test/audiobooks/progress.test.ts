import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { ProgressStore } from '../../src/audiobooks/progress.ts'
import { audiobookJobs } from '../../src/audiobooks/schema.ts'
import type { Database } from '../../src/platform/db/index.ts'
import { AppError } from '../../src/platform/errors.ts'
import { testDatabases } from '../support/databases.ts'

for (const kind of testDatabases()) {
  describe(`ProgressStore on ${kind.name}`, () => {
    let database: Database
    let store: ProgressStore
    const jobId = crypto.randomUUID()

    beforeAll(async () => {
      database = await kind.open()
      store = new ProgressStore(database.db)
      await database.db
        .insert(audiobookJobs)
        .values({ id: jobId, ownerId: 'alice', title: 'Book', status: 'COMPLETED', nodeId: 'n' })
    })
    afterAll(() => database.close())

    const stale = async (write: Parameters<ProgressStore['save']>[2]) => {
      const error = await store.save('alice', jobId, write).catch((e: unknown) => e)
      expect(error).toBeInstanceOf(AppError)
      expect(error).toMatchObject({ status: 409, code: 'STALE_PROGRESS' })
      return (error as AppError).details.progress
    }

    test('nothing saved yet reads as the start', async () => {
      expect(await store.get('alice', jobId)).toEqual({
        position: 0,
        chapter: null,
        version: 0,
        updatedAt: null,
      })
    })

    test('a listener who sends back the latest version moves anywhere; a stale one only forward', async () => {
      expect(await store.save('alice', jobId, { position: 100, chapter: 1 })).toMatchObject({
        position: 100,
        version: 1,
      })
      // No version, or an old one: a late write from an older session does not move it back...
      expect(await stale({ position: 50, chapter: 1 })).toMatchObject({ position: 100, version: 1 })
      expect(await stale({ position: 50, chapter: 1, version: 0 })).toMatchObject({
        position: 100,
        version: 1,
      })
      // ...but may move it forward.
      expect(await store.save('alice', jobId, { position: 120, chapter: 2 })).toMatchObject({
        position: 120,
        chapter: 2,
        version: 2,
      })
      // The newest session rewinds deliberately.
      expect(await store.save('alice', jobId, { position: 10, chapter: 1, version: 2 })).toMatchObject({
        position: 10,
        version: 3,
      })
      expect(await stale({ position: 5, chapter: 1, version: 2 })).toMatchObject({ position: 10, version: 3 })
      const stored = await store.get('alice', jobId)
      expect(stored).toMatchObject({ position: 10, chapter: 1, version: 3 })
      expect(stored.updatedAt).toBeInstanceOf(Date)
    })

    test('two sessions rewinding from the same version at once: the check and the write are atomic', async () => {
      // Whichever lands first wins by version; the other then counts as stale and may only move forward.
      // Either order ends at 2, with one version bump per accepted write.
      const { version } = await store.get('alice', jobId)
      const results = await Promise.allSettled([
        store.save('alice', jobId, { position: 1, chapter: 1, version }),
        store.save('alice', jobId, { position: 2, chapter: 1, version }),
      ])
      const accepted = results.filter((r) => r.status === 'fulfilled').length
      expect(accepted).toBeGreaterThanOrEqual(1)
      expect(await store.get('alice', jobId)).toMatchObject({ position: 2, version: version + accepted })
    })

    test('progress is per user', async () => {
      expect(await store.save('bob', jobId, { position: 3, chapter: 1 })).toMatchObject({
        position: 3,
        version: 1,
      })
      expect((await store.get('alice', jobId)).position).toBeLessThan(3)
    })
  })
}
