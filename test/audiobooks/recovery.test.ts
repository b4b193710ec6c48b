import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { mkdirSync, renameSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { eq } from 'drizzle-orm'
import { audiobookChapters, audiobookJobs } from '../../src/audiobooks/schema.ts'
import { AudiobookService, INTERRUPTED_REASON } from '../../src/audiobooks/service.ts'
import { ActorRegistry } from '../../src/platform/actors/registry.ts'
import type { Database } from '../../src/platform/db/index.ts'
import { LocalBlobStore } from '../../src/platform/storage/local-blob-store.ts'
import { UrlSigner } from '../../src/platform/storage/url-signer.ts'
import { testDatabases } from '../support/databases.ts'
import { tempDir } from '../support/tmp.ts'
import { makeTone } from './fixtures.ts'

const NODE = 'this-node'
const LIMITS = {
  maxFileBytes: 10_000_000,
  maxTotalBytes: 20_000_000,
  maxChapters: 10,
  concurrency: 1,
  claimTtlSeconds: 30,
}

for (const kind of testDatabases()) {
  describe(`startup recovery on ${kind.name}`, () => {
    let database: Database
    let registry: ActorRegistry
    let service: AudiobookService
    const data = tempDir('airwave-recovery-')
    const blobs = new LocalBlobStore(
      join(data.path, 'blobs'),
      'http://airwave.test',
      new UrlSigner('x'.repeat(32)),
    )
    const ids = {
      pendingStaged: crypto.randomUUID(),
      processingStaged: crypto.randomUUID(),
      processingGone: crypto.randomUUID(),
      partlyStaged: crypto.randomUUID(),
      otherNode: crypto.randomUUID(),
    }

    /** A job row as a crashed run left it, with its chapters and (some of) its staged files. */
    async function leftover(
      id: string,
      status: 'PENDING' | 'PROCESSING',
      nodeId: string,
      chapters: number,
      staged: number,
    ) {
      await database.db.insert(audiobookJobs).values({ id, ownerId: 'alice', title: id, status, nodeId })
      await database.db.insert(audiobookChapters).values(
        Array.from({ length: chapters }, (_, i) => ({
          jobId: id,
          index: i + 1,
          title: `Chapter ${i + 1}`,
          sourceName: `${i + 1}.wav`,
        })),
      )
      const dir = join(data.path, 'staging', 'audiobooks', id)
      mkdirSync(dir, { recursive: true })
      for (let i = 1; i <= staged; i++) {
        // Staged uploads have no extension; FFmpeg needs one to pick the container it writes.
        renameSync(await makeTone(dir, `tone_${i}.wav`, 1 + i / 2), join(dir, `source_${i}`))
      }
    }

    beforeAll(async () => {
      database = await kind.open()
      writeFileSync(join(data.path, 'node-id'), `${NODE}\n`)
      await leftover(ids.pendingStaged, 'PENDING', NODE, 1, 1)
      await leftover(ids.processingStaged, 'PROCESSING', NODE, 2, 2)
      await leftover(ids.processingGone, 'PROCESSING', NODE, 1, 0)
      await leftover(ids.partlyStaged, 'PROCESSING', NODE, 2, 1)
      await leftover(ids.otherNode, 'PROCESSING', 'another-node', 1, 0)
      registry = new ActorRegistry()
      service = await AudiobookService.start({
        db: database.db,
        blobs,
        registry,
        dataDir: data.path,
        ffmpegPath: 'ffmpeg',
        signedUrlTtl: 60,
        limits: LIMITS,
        instanceId: 'this-instance',
        cluster: false,
      })
    }, 30_000)
    afterAll(async () => {
      await registry.shutdown(1000)
      await service.close()
      await database.close()
      data.remove()
    })

    const job = async (id: string) =>
      (await database.db.select().from(audiobookJobs).where(eq(audiobookJobs.id, id)))[0]

    async function settled(id: string) {
      const deadline = Date.now() + 20_000
      for (;;) {
        const row = await job(id)
        if (row?.status === 'COMPLETED' || row?.status === 'FAILED' || Date.now() > deadline) return row
        await Bun.sleep(50)
      }
    }

    test('jobs whose staged upload is complete are processed again and complete', async () => {
      expect(service.nodeId).toBe(NODE)
      for (const id of [ids.pendingStaged, ids.processingStaged]) {
        const row = await settled(id)
        expect(row).toMatchObject({ status: 'COMPLETED', error: null, format: 'audio/mpeg' })
      }
      const chapters = await database.db
        .select()
        .from(audiobookChapters)
        .where(eq(audiobookChapters.jobId, ids.processingStaged))
      expect(chapters.map((c) => c.fileKey).sort()).toEqual([
        `jobs/${ids.processingStaged}/chapter_1.mp3`,
        `jobs/${ids.processingStaged}/chapter_2.mp3`,
      ])
      expect(await blobs.stat(`jobs/${ids.pendingStaged}/audio.mp3`)).not.toBeNull()
    })

    test('jobs whose upload is gone or incomplete fail with a clear reason', async () => {
      for (const id of [ids.processingGone, ids.partlyStaged]) {
        expect(await job(id)).toMatchObject({ status: 'FAILED', error: INTERRUPTED_REASON })
      }
    })

    test("another instance's jobs are left to it", async () => {
      expect(await job(ids.otherNode)).toMatchObject({ status: 'PROCESSING', error: null })
    })

    test('a second start finds nothing left to recover', async () => {
      for (const id of [ids.pendingStaged, ids.processingStaged]) await settled(id)
      expect(await service.recover()).toEqual({ resumed: [], failed: [] })
    })
  })
}
