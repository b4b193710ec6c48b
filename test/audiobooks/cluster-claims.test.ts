/**
 * Audiobook jobs in cluster mode (claims renewed every third of a short TTL, sources in the blob store) when the
 * database is slow: the job is still processed exactly once, and nobody is told their upload is gone.
 *
 * PostgreSQL only: the races need the claims' renewals on one connection and the upload's transaction on another
 * (PGlite has one connection, so a renewal waits for the transaction there).
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { eq } from 'drizzle-orm'
import postgres from 'postgres'
import { audiobookMetrics } from '../../src/audiobooks/metrics.ts'
import { audiobookJobs } from '../../src/audiobooks/schema.ts'
import { AudiobookService } from '../../src/audiobooks/service.ts'
import { ActorRegistry } from '../../src/platform/actors/registry.ts'
import { type Database, openDatabase } from '../../src/platform/db/index.ts'
import { LocalBlobStore } from '../../src/platform/storage/local-blob-store.ts'
import { UrlSigner } from '../../src/platform/storage/url-signer.ts'
import { createPostgresDatabase } from '../support/databases.ts'
import { tempDir } from '../support/tmp.ts'
import { until } from '../support/until.ts'
import { makeTone } from './fixtures.ts'

/** One second: renewals and takeover scans every 333 ms. */
const CLAIM_TTL_S = 1
const LIMITS = {
  maxFileBytes: 10_000_000,
  maxTotalBytes: 20_000_000,
  maxChapters: 10,
  concurrency: 1,
  claimTtlSeconds: CLAIM_TTL_S,
}
const baseUrl = process.env.TEST_DATABASE_URL

describe.skipIf(!baseUrl)('audiobook jobs in a cluster on a slow PostgreSQL', () => {
  let created: { url: string; drop(): Promise<void> }
  let database: Database
  /** A second connection, for the test's own DDL. */
  let admin: postgres.Sql
  let registry: ActorRegistry
  let service: AudiobookService
  let tone: string
  const data = tempDir('airwave-cluster-claims-')
  const blobs = new LocalBlobStore(
    join(data.path, 'blobs'),
    'http://airwave.test',
    new UrlSigner('x'.repeat(32)),
  )

  beforeAll(async () => {
    created = await createPostgresDatabase(baseUrl as string)
    database = await openDatabase({ databaseUrl: created.url })
    admin = postgres(created.url, { max: 1, onnotice: () => {} })
    tone = await makeTone(data.path, 'tone.wav', 1)
    registry = new ActorRegistry()
    service = await AudiobookService.start({
      db: database.db,
      blobs,
      registry,
      dataDir: join(data.path, 'instance'),
      ffmpegPath: 'ffmpeg',
      signedUrlTtl: 60,
      limits: LIMITS,
      instanceId: 'instance-a',
      cluster: true,
    })
  }, 30_000)
  afterAll(async () => {
    await registry?.shutdown(1000)
    await service?.close()
    await database?.close()
    await admin?.end({ timeout: 1 })
    await created?.drop()
    data.remove()
  })

  const upload = () => {
    const form = new FormData()
    form.append('title', 'Slow commit')
    form.append('files', Bun.file(tone), 'chapter.wav')
    return service.createJob(
      'alice',
      new Request('http://airwave.test/api/v1/jobs', { method: 'POST', body: form }),
    )
  }
  const row = async (id: string) =>
    (await database.db.select().from(audiobookJobs).where(eq(audiobookJobs.id, id)))[0]
  const finished = (id: string) =>
    until(
      () => row(id),
      (job) => job?.status === 'COMPLETED' || job?.status === 'FAILED',
      20_000,
    )
  const counter = async (name: string) =>
    (await audiobookMetrics.jobs.get()).values.find((v) => v.labels.outcome === name)?.value ?? 0

  test('an upload whose transaction commits after several renewals is processed once, from its own upload', async () => {
    // The upload's transaction stays open for 1.5 s after the job row is written: four renewals of the new claim
    // run meanwhile and find no committed row.
    await admin.unsafe(`
      create function airwave_test_slow_commit() returns trigger language plpgsql as $$
      begin perform pg_sleep(1.5); return null; end $$;
      create trigger airwave_test_slow_commit after insert on audiobook_chapters
        for each statement execute function airwave_test_slow_commit();
    `)
    const released = await counter('released')
    const completed = await counter('completed')
    try {
      const { job } = await upload()
      expect(await finished(job.id)).toMatchObject({
        status: 'COMPLETED',
        error: null,
        claimedBy: 'instance-a',
      })
      expect(existsSync(join(data.path, 'instance', 'staging', 'audiobooks', job.id))).toBe(false)
      expect(await blobs.stat(`jobs/${job.id}/audio.mp3`)).not.toBeNull()
      expect(await blobs.stat(`jobs/${job.id}/sources/source_1`)).toBeNull()
    } finally {
      await admin.unsafe(`
        drop trigger airwave_test_slow_commit on audiobook_chapters;
        drop function airwave_test_slow_commit();
      `)
    }
    // The instance it was uploaded to processed it, without first letting it go.
    expect(await counter('released')).toBe(released)
    expect(await counter('completed')).toBe(completed + 1)
  }, 30_000)
})
