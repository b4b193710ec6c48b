import { afterAll, describe, expect, test } from 'bun:test'
import postgres from 'postgres'
import type { TransmissionEnded } from '../../actors/transmission.machine.ts'
import type { Db } from '../../src/platform/db/index.ts'
import { LocalBlobStore } from '../../src/platform/storage/local-blob-store.ts'
import { UrlSigner } from '../../src/platform/storage/url-signer.ts'
import { TransmissionHistory } from '../../src/radio/history.ts'
import { createPostgresDatabase, testDatabases } from '../support/databases.ts'
import { startServer } from '../support/server.ts'
import { tempDir } from '../support/tmp.ts'
import { b64, opusPackets, postChunk, SseClient } from './support.ts'

const ended = (id: string, over: Partial<TransmissionEnded> = {}): TransmissionEnded => ({
  transmissionId: id,
  slot: 1,
  radioId: 5,
  talkgroupId: 6,
  timestamp: '2026-01-03T13:15:00',
  startedAt: Date.UTC(2026, 0, 3, 13, 15),
  endedAt: Date.UTC(2026, 0, 3, 13, 15, 2),
  chunkCount: 20,
  duplicates: 0,
  durationSamples: 96_000,
  saveRecording: false,
  ...over,
})

/** The real database, with writes that fail while `down` is set: an outage as the history sees it. */
function flaky(db: Db) {
  const state = { down: true }
  const proxy = new Proxy(db, {
    get(target, prop, receiver) {
      if (prop === 'insert' && state.down)
        return () => ({
          values: () => ({ onConflictDoNothing: () => Promise.reject(new Error('connection refused')) }),
        })
      return Reflect.get(target, prop, receiver)
    },
  })
  return { db: proxy, state }
}

const blobsDir = tempDir()
const newBlobs = () => new LocalBlobStore(blobsDir.path, 'http://localhost', new UrlSigner('k'.repeat(32)))
afterAll(() => blobsDir.remove())

for (const database of testDatabases()) {
  describe(`transmission history on ${database.name}`, () => {
    test('writes wait while the database is down, retry with backoff and land when it is back', async () => {
      const opened = await database.open()
      const { db, state } = flaky(opened.db)
      const blobs = newBlobs()
      const history = new TransmissionHistory(db, blobs, {
        maxPending: 3,
        maxPendingBytes: 1024 * 1024,
        retryMs: 20,
        maxRetryMs: 50,
      })
      const recording = new Uint8Array([0x4f, 0x67, 0x67, 0x53])
      history.record(ended('r5_tg6_a', { saveRecording: true }), recording)
      history.record(ended('r5_tg6_b', { startedAt: Date.UTC(2026, 0, 3, 13, 16) }), null)
      await Bun.sleep(100)
      expect(history.backlog).toEqual({ pending: 2, lastError: 'connection refused' })
      expect(history.check()).rejects.toThrow('2 transmission(s) waiting to be saved: connection refused')
      // The bound: the oldest goes first past maxPending.
      history.record(ended('r5_tg6_c'), null)
      history.record(ended('r5_tg6_d'), null)
      expect(history.backlog.pending).toBe(3)

      state.down = false
      expect(await history.drain(2000)).toBe(true)
      expect(await history.check()).toBe('0 transmission(s) waiting to be saved')
      const rows = await history.list({ limit: 10 })
      expect(rows.map((r) => r.transmissionId).sort()).toEqual(['r5_tg6_b', 'r5_tg6_c', 'r5_tg6_d'])
      expect(rows.find((r) => r.transmissionId === 'r5_tg6_b')).toMatchObject({
        slot: 1,
        radioId: 5,
        talkgroupId: 6,
        duration: 2,
        chunkCount: 20,
        recordingKey: null,
      })
      history.stop()
      await opened.close()
    })

    test('a recording is stored before its row, and a retried row is not written twice', async () => {
      const opened = await database.open()
      const blobs = newBlobs()
      const history = new TransmissionHistory(opened.db, blobs)
      history.record(ended('r9_tg9_x', { saveRecording: true }), new Uint8Array([1, 2, 3]))
      history.record(ended('r9_tg9_x', { saveRecording: true }), new Uint8Array([1, 2, 3]))
      expect(await history.drain(2000)).toBe(true)
      expect(await history.list({ limit: 10 })).toHaveLength(1)
      expect((await history.get('r9_tg9_x'))?.recordingKey).toBe('recordings/r9_tg9_x.ogg')
      expect((await blobs.stat('recordings/r9_tg9_x.ogg'))?.size).toBe(3)
      history.stop()
      await opened.close()
    })

    test('a row the database refuses for its value (SQLSTATE 22) is dropped, never retried before the rest', async () => {
      const opened = await database.open()
      const history = new TransmissionHistory(opened.db, newBlobs())
      history.record(ended('r5_tg6_a\u0000b'), null)
      history.record(ended('r5_tg6_after'), null)
      expect(await history.drain(2000)).toBe(true)
      expect((await history.list({ limit: 10 })).map((r) => r.transmissionId)).toEqual(['r5_tg6_after'])
      expect(history.backlog).toEqual({ pending: 0, lastError: undefined })
      history.stop()
      await opened.close()
    })
  })
}

const pgUrl = process.env.TEST_DATABASE_URL
describe.skipIf(!pgUrl)('a PostgreSQL outage during a transmission (real server)', () => {
  test('live listeners are not interrupted, /health shows the outage, the row is written when the database is back', async () => {
    const created = await createPostgresDatabase(pgUrl as string)
    const dbName = new URL(created.url).pathname.slice(1)
    const admin = postgres(pgUrl as string, { max: 1, onnotice: () => {} })
    const server = await startServer({ DATABASE_URL: created.url, INGEST_API_KEYS: 'k' })
    const listener = await SseClient.open(`${server.url}/api/v1/stream-listen?slot=1`)
    try {
      const packets = opusPackets(10)
      const send = (sequence: number) =>
        postChunk(
          server.url,
          {
            slot: 1,
            radio_id: 77,
            talkgroup_id: 8,
            sequence,
            chunk_data: b64(packets[sequence] as Uint8Array),
            save_recording: true,
          },
          'k',
        )
      expect((await send(0)).status).toBe(200)
      await admin.unsafe(`alter database ${dbName} allow_connections false`)
      await admin.unsafe(`select pg_terminate_backend(pid) from pg_stat_activity where datname = '${dbName}'`)
      for (let s = 1; s < 10; s++) expect((await send(s)).status).toBe(200)
      await listener.waitFor((events) => events.some((e) => e.event === 'transmission_end'), 10_000)
      expect(listener.json('audio_chunk').map((c) => c.sequence)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])

      let health: { status: string; checks: Record<string, { status: string; detail?: string }> } | undefined
      for (let i = 0; i < 50 && health?.checks.radio?.status !== 'error'; i++) {
        await Bun.sleep(200)
        const res = await fetch(`${server.url}/health`)
        expect(res.status).toBe(503)
        health = await res.json()
      }
      expect(health?.checks.database?.status).toBe('error')
      expect(health?.checks.radio?.status).toBe('error')
      expect(health?.checks.radio?.detail).toStartWith('1 transmission(s) waiting to be saved:')

      await admin.unsafe(`alter database ${dbName} allow_connections true`)
      let rows: Record<string, unknown>[] = []
      for (let i = 0; i < 100 && rows.length === 0; i++) {
        await Bun.sleep(300)
        const res = await fetch(`${server.url}/api/v1/transmissions?radio_id=77`)
        if (res.status === 200) rows = ((await res.json()) as { data: Record<string, unknown>[] }).data
      }
      expect(rows[0]).toMatchObject({ radio_id: 77, chunk_count: 10 })
      const recording = await fetch(
        `${server.url}/api/v1/transmissions/${rows[0]?.transmission_id}/recording`,
      )
      expect(recording.status).toBe(200)
      expect((await fetch(`${server.url}/health`)).status).toBe(200)
    } finally {
      listener.close()
      await admin.unsafe(`alter database ${dbName} allow_connections true`).catch(() => {})
      await server.stop()
      await admin.end()
      await created.drop()
    }
  }, 60_000)
})
