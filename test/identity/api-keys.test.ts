import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { ApiKeyService } from '../../src/identity/api-keys.ts'
import type { Database } from '../../src/platform/db/index.ts'
import { testDatabases } from '../support/databases.ts'

for (const target of testDatabases()) {
  describe(`API keys (${target.name})`, () => {
    let database: Database
    let keys: ApiKeyService
    beforeAll(async () => {
      database = await target.open()
      keys = new ApiKeyService(database.db, ['static-key-from-env'])
    })
    afterAll(() => database.close())

    test('create returns the key once; only a hash is stored', async () => {
      const created = await keys.create('pi-1')
      expect(created.key).toMatch(/^awk_[A-Za-z0-9_-]{43}$/)
      expect(created.prefix).toBe(created.key.slice(0, 10))
      const stored = JSON.stringify(await database.db.query.apiKeys.findMany())
      expect(stored).not.toContain(created.key)
      expect(await keys.verify(created.key)).toBe('pi-1')
    })

    test('list never shows keys', async () => {
      const list = await keys.list()
      expect(list.map((k) => k.name)).toEqual(['pi-1'])
      expect(Object.keys(list[0] ?? {})).not.toContain('key')
    })

    test('duplicate names and bad names are refused', async () => {
      await expect(keys.create('pi-1')).rejects.toMatchObject({ status: 409, code: 'KEY_EXISTS' })
      await expect(keys.create('bad name!')).rejects.toMatchObject({ status: 400, code: 'INVALID_NAME' })
    })

    test('revoked keys stop working; unknown names are 404', async () => {
      const created = await keys.create('pi-2')
      expect(await keys.verify(created.key)).toBe('pi-2')
      const revoked = await keys.revoke('pi-2')
      expect(revoked.revokedAt).not.toBeNull()
      expect(await keys.verify(created.key)).toBeNull()
      await expect(keys.revoke('nope')).rejects.toMatchObject({ status: 404 })
    })

    test('INGEST_API_KEYS are accepted; unknown and empty keys are not', async () => {
      expect(await keys.verify('static-key-from-env')).toBe('INGEST_API_KEYS')
      expect(await keys.verify('awk_unknown')).toBeNull()
      expect(await keys.verify('')).toBeNull()
    })

    test('keys may be scoped to systems and talkgroups, with an OpenMHz short name for their one system', async () => {
      const created = await keys.create('tr-1', {
        systems: [1, 7],
        talkgroups: [100, 200],
        openmhzShortName: null,
      })
      expect(await keys.grant(created.key)).toEqual({
        name: 'tr-1',
        systems: [1, 7],
        talkgroups: [100, 200],
        openmhzShortName: null,
      })
      const omz = await keys.create('omz-1', { systems: [9], talkgroups: null, openmhzShortName: 'county' })
      expect(await keys.shortNameSystem('county')).toBe(9)
      expect(await keys.shortNameSystem('nowhere')).toBeNull()
      expect((await keys.grant(omz.key))?.openmhzShortName).toBe('county')
      expect(await keys.grant('static-key-from-env')).toMatchObject({ systems: null, talkgroups: null })
      const scope = (over: object) => ({ systems: null, talkgroups: null, openmhzShortName: null, ...over })
      for (const bad of [
        scope({ systems: [] }),
        scope({ talkgroups: [-1] }),
        scope({ systems: [1.5] }),
        scope({ systems: [1, 2], openmhzShortName: 'two' }),
        scope({ openmhzShortName: 'no-system' }),
        scope({ systems: [3], openmhzShortName: 'Bad Name' }),
      ])
        await expect(keys.create(`bad-${Math.random().toString(36).slice(2, 8)}`, bad)).rejects.toMatchObject(
          {
            status: 400,
            code: 'INVALID_SCOPE',
          },
        )
      await expect(
        keys.create('omz-2', scope({ systems: [4], openmhzShortName: 'county' })),
      ).rejects.toMatchObject({
        status: 409,
        code: 'SHORT_NAME_EXISTS',
      })
      await keys.revoke('omz-1')
      expect(await keys.shortNameSystem('county')).toBeNull()
    })

    test('verify records when a key was last used', async () => {
      const created = await keys.create('pi-3')
      await keys.verify(created.key)
      const entry = (await keys.list()).find((k) => k.name === 'pi-3')
      expect(entry?.lastUsedAt).not.toBeNull()
    })
  })
}
