import { afterAll, describe, expect, test } from 'bun:test'
import type { CallSource } from '../../src/calls/model.ts'
import { LocalBlobStore } from '../../src/platform/storage/local-blob-store.ts'
import { UrlSigner } from '../../src/platform/storage/url-signer.ts'
import { TransmissionHistory } from '../../src/radio/history.ts'
import { encodeCursor, parseHistoryQuery } from '../../src/radio/model.ts'
import { testDatabases } from '../support/databases.ts'
import { tempDir } from '../support/tmp.ts'

const blobsDir = tempDir()
afterAll(() => blobsDir.remove())

const T0 = Date.UTC(2026, 0, 3, 13, 15)

function call(
  id: string,
  at: number,
  over: {
    system?: number
    talkgroup?: number
    sources?: CallSource[]
    label?: string
    emergency?: boolean
  } = {},
) {
  return {
    transmissionId: id,
    slot: null,
    radioId: over.sources?.[0]?.src ?? 0,
    talkgroupId: over.talkgroup ?? 100,
    startedAt: new Date(at),
    endedAt: new Date(at + 4000),
    duration: 4,
    chunkCount: 40,
    recordingKey: `recordings/${id}.ogg`,
    recordingBytes: 4,
    systemId: over.system ?? 7,
    systemLabel: 'County P25',
    talkgroupLabel: over.label ?? 'FD Dispatch',
    talkgroupTag: 'Fire Dispatch',
    talkgroupGroup: 'Fire',
    frequency: 851012500,
    emergency: over.emergency ?? false,
    sources: over.sources ?? [],
    call: { frequencies: [], patches: [] },
  }
}

for (const database of testDatabases()) {
  describe(`scanner calls in the history on ${database.name}`, () => {
    test('filters by system, talkgroup list, unit, emergency and label text; pages with a cursor; lists systems', async () => {
      const opened = await database.open()
      const history = new TransmissionHistory(
        opened.db,
        new LocalBlobStore(blobsDir.path, 'http://localhost', new UrlSigner('k'.repeat(32))),
      )
      const ogg = new Uint8Array([0x4f, 0x67, 0x67, 0x53])
      await history.storeCall(call('c7_a', T0, { sources: [{ pos: 0, src: 555, tag: 'Medic 5' }] }), ogg)
      await history.storeCall(
        call('c7_b', T0 + 1000, { talkgroup: 200, label: 'EMS Ops', emergency: true }),
        ogg,
      )
      await history.storeCall(
        call('c7_c', T0 + 2000, { talkgroup: 300, label: '100% "quoted" \\ label' }),
        ogg,
      )
      await history.storeCall(call('c9_a', T0 + 3000, { system: 9, talkgroup: 100 }), ogg)
      const ids = async (query: Record<string, string>) =>
        (await history.list(parseHistoryQuery(query))).map((row) => row.transmissionId)

      expect(await ids({ system: '7' })).toEqual(['c7_c', 'c7_b', 'c7_a'])
      expect(await ids({ system: '7', talkgroup_id: '100,200' })).toEqual(['c7_b', 'c7_a'])
      expect(await ids({ talkgroup_id: '100' })).toEqual(['c9_a', 'c7_a'])
      expect(await ids({ source: '555' })).toEqual(['c7_a'])
      expect(await ids({ emergency: 'true' })).toEqual(['c7_b'])
      expect(await ids({ emergency: 'false', system: '9' })).toEqual(['c9_a'])
      expect(await ids({ q: 'ems' })).toEqual(['c7_b'])
      expect(await ids({ q: 'medic' })).toEqual(['c7_a'])
      // LIKE's wildcards and escapes in the search text are matched literally.
      expect(await ids({ q: '100%' })).toEqual(['c7_c'])
      expect(await ids({ q: '_' })).toEqual([])
      expect(await ids({ q: '\\' })).toEqual(['c7_c'])

      const first = await history.list(parseHistoryQuery({ limit: '2' }))
      expect(first.map((r) => r.transmissionId)).toEqual(['c9_a', 'c7_c'])
      const last = first.at(-1)
      const cursor = encodeCursor({
        startedAt: last?.startedAt.getTime() ?? 0,
        id: last?.transmissionId ?? '',
      })
      expect(await ids({ limit: '2', cursor })).toEqual(['c7_b', 'c7_a'])

      expect(await history.callsNear(7, 100, T0 + 400, 500)).toEqual(['c7_a'])
      expect(await history.callsNear(7, 100, T0 + 600, 500)).toEqual([])
      expect(await history.callsNear(7, 200, T0, 500)).toEqual([])

      const systems = await history.systems()
      expect(systems.map((s) => [s.system, s.talkgroups.map((t) => t.talkgroup)])).toEqual([
        [7, [100, 200, 300]],
        [9, [100]],
      ])
      expect(systems[0]?.label).toBe('County P25')
      expect(systems[0]?.talkgroups[1]).toMatchObject({ label: 'EMS Ops', group: 'Fire' })
      await opened.close()
    })

    test('bad filters are refused with a clear message', () => {
      for (const [query, message] of [
        [{ cursor: 'not-a-cursor!' }, 'Invalid cursor'],
        [{ cursor: Buffer.from('12:bad id').toString('base64url') }, 'Invalid cursor'],
        [{ talkgroup_id: '1,x' }, 'Invalid talkgroup_id'],
        [{ talkgroup_id: Array.from({ length: 101 }, (_, i) => i).join(',') }, 'at most 100 ids'],
        [{ emergency: 'maybe' }, 'Invalid emergency'],
        [{ q: 'x'.repeat(101) }, 'Invalid q'],
        [{ system: '-1' }, 'Invalid system'],
      ] as const)
        expect(() => parseHistoryQuery(query)).toThrow(message)
    })
  })
}
