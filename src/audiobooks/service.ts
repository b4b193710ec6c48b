/**
 * Audiobook jobs: creating them from uploads, finding a user's own jobs, signed URLs for their audio, deleting
 * them, and settling jobs a crash or restart left unfinished. Processing itself runs in one `job` actor per job.
 *
 * Each job is claimed in the database (src/audiobooks/claims.ts): the instance it was uploaded to queues and
 * processes it, and AUDIOBOOK_CONCURRENCY bounds each instance's transcodes. In a cluster the upload is kept in the
 * blob store too, and every instance looks for unfinished jobs whose claim expired (their instance died) and takes
 * them when it has a free slot; a single node settles its own leftovers at startup instead.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import { create as contentDisposition } from 'content-disposition'
import { and, asc, desc, eq, inArray } from 'drizzle-orm'
import { fromPromise } from 'xstate'
import { jobMachine } from '../../actors/job.machine.ts'
import type { AudiobookLimits } from '../config.ts'
import type { ActorRegistry } from '../platform/actors/registry.ts'
import type { Db } from '../platform/db/index.ts'
import { AppError, NotFoundError } from '../platform/errors.ts'
import { ffprobePathFor } from '../platform/ffprobe.ts'
import { log } from '../platform/log.ts'
import { ProcessingSlots } from '../platform/processing-slots.ts'
import type { BlobStore, SignedUrl } from '../platform/storage/blob-store.ts'
import { JobClaims } from './claims.ts'
import { audiobookMetrics } from './metrics.ts'
import { JobProcessor, jobChapters, STORED_CONTENT_TYPE } from './processor.ts'
import { ProgressStore } from './progress.ts'
import { audiobookChapters, audiobookJobs, type JobStatus } from './schema.ts'
import { stageUpload } from './upload.ts'

export const JOB_ACTOR_KIND = 'job'

/** Response headers the streaming URL makes the storage send, as the document lists them. */
export const STREAM_HEADERS = {
  contentType: STORED_CONTENT_TYPE,
  contentDisposition: 'inline',
  cacheControl: 'public, max-age=3600',
} as const

export type JobRow = typeof audiobookJobs.$inferSelect
export type ChapterRow = typeof audiobookChapters.$inferSelect

export interface OwnedJob {
  job: JobRow
  chapters: ChapterRow[]
}

/** A completed job's chapter with everything needed to hand out its URL. */
export interface ReadyChapter extends ChapterRow {
  fileKey: string
  start: number
  end: number
  duration: number
}

export interface AudiobookServiceOptions {
  db: Db
  blobs: BlobStore
  registry: ActorRegistry
  dataDir: string
  ffmpegPath: string
  signedUrlTtl: number
  limits: AudiobookLimits
  /** This instance in the cluster (INSTANCE_ID): who holds a job's claim. */
  instanceId: string
  /** Part of a cluster: uploads go to the blob store too, and jobs whose instance died are taken over. */
  cluster: boolean
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/** The message a job gets when a restart interrupted it and its upload can no longer be processed. */
export const INTERRUPTED_REASON =
  'Processing was interrupted by a server restart and the upload is no longer available; upload it again'

export class AudiobookService {
  readonly progress: ProgressStore
  readonly slots: ProcessingSlots
  readonly claims: JobClaims
  private readonly processor: JobProcessor
  private takeover: ReturnType<typeof setInterval> | undefined
  private readonly stagingRoot: string
  /** This instance's id (kept in DATA_DIR): only the instance holding a job's staged upload may resume it. */
  readonly nodeId: string

  private constructor(private readonly options: AudiobookServiceOptions) {
    this.stagingRoot = join(options.dataDir, 'staging', 'audiobooks')
    this.nodeId = nodeIdOf(options.dataDir)
    this.progress = new ProgressStore(options.db)
    this.slots = new ProcessingSlots(options.limits.concurrency)
    this.claims = new JobClaims(options.db, options.instanceId, options.limits.claimTtlSeconds * 1000)
    this.claims.onLost = (jobId) => void this.lost(jobId)
    this.processor = new JobProcessor({
      db: options.db,
      blobs: options.blobs,
      ffmpegPath: options.ffmpegPath,
      ffprobePath: ffprobePathFor(options.ffmpegPath),
      stagingRoot: this.stagingRoot,
      claims: this.claims,
      sharedSources: options.cluster,
    })
  }

  /** Defines the `job` actor kind with the real steps, then resumes or fails what a restart left unfinished. */
  static async start(options: AudiobookServiceOptions): Promise<AudiobookService> {
    const service = new AudiobookService(options)
    const { slots, processor, claims } = service
    options.registry.define(
      JOB_ACTOR_KIND,
      jobMachine.provide({
        actors: {
          acquireSlot: fromPromise(({ input, signal }) => slots.acquire(input.jobId, signal)),
          processJob: fromPromise(async ({ input, signal }) => {
            try {
              const result = await processor.process(input.jobId, signal)
              claims.forget(input.jobId)
              audiobookMetrics.jobs.inc({ outcome: result ? 'completed' : 'released' })
              return result
            } finally {
              slots.release(input.jobId)
            }
          }),
          recordFailure: fromPromise(async ({ input }) => {
            audiobookMetrics.jobs.inc({ outcome: 'failed' })
            try {
              await processor.recordFailure(input.jobId, input.reason, claims.tokenOf(input.jobId))
            } catch (err) {
              log.error({ err, jobId: input.jobId }, 'could not record an audiobook job failure')
              throw err
            } finally {
              claims.forget(input.jobId)
            }
          }),
        },
      }),
    )
    if (options.cluster) {
      service.takeover = setInterval(() => void service.takeOver(), claims.renewMs)
    } else {
      await service.recover()
    }
    return service
  }

  /** Shutdown, after the registry stopped the job actors: their claims are let go for other instances to take. */
  async close(): Promise<void> {
    clearInterval(this.takeover)
    await this.claims.releaseAll()
  }

  /** Takes unfinished jobs whose claim expired (their instance died), as many as this instance has free slots. */
  private async takeOver(): Promise<void> {
    const free = this.slots.size - this.slots.inUse - this.slots.queued
    if (free <= 0) return
    try {
      for (const jobId of await this.claims.claimable(free)) {
        if (this.options.registry.get(JOB_ACTOR_KIND, jobId)) continue
        log.info({ jobId }, 'taking over an audiobook job whose instance is gone')
        this.spawn(jobId)
      }
    } catch (err) {
      log.warn({ err }, 'could not look for audiobook jobs to take over')
    }
  }

  /** Another instance holds `jobId` now, or it was deleted: this instance stops working on it. */
  private async lost(jobId: string): Promise<void> {
    log.warn({ jobId }, 'lost the claim of an audiobook job (another instance holds it, or it was deleted)')
    this.options.registry.stop(JOB_ACTOR_KIND, jobId)
    await this.processor.settled(jobId)
    if (await this.processor.exists(jobId).catch(() => true)) {
      await rm(this.processor.stagingDir(jobId), { recursive: true, force: true })
    } else {
      // Deleted elsewhere while this instance was storing chapters: what it stored after the delete goes too.
      await this.processor.discardFiles(jobId)
    }
  }

  /** Stages the upload, records the job PENDING and starts its actor. */
  async createJob(ownerId: string, request: Request): Promise<OwnedJob> {
    const jobId = crypto.randomUUID()
    const dir = this.processor.stagingDir(jobId)
    const upload = await stageUpload(request, dir, this.options.limits)
    const { db } = this.options
    const claim = this.claims.queueClaim()
    try {
      if (this.options.cluster) await this.processor.shareSources(jobId, upload.files.length)
      await db.transaction(async (tx) => {
        await tx.insert(audiobookJobs).values({
          id: jobId,
          ownerId,
          title: upload.title,
          status: 'PENDING',
          nodeId: this.nodeId,
          ...claim,
        })
        await tx.insert(audiobookChapters).values(
          upload.files.map((file, i) => ({
            jobId,
            index: i + 1,
            title: upload.chapterTitles[i] ?? `Chapter ${i + 1}`,
            sourceName: file.name,
          })),
        )
      })
    } catch (error) {
      await this.processor.discardFiles(jobId)
      throw error
    }
    this.claims.hold(jobId, claim.claimToken)
    this.spawn(jobId)
    log.info({ jobId, ownerId, chapters: upload.files.length }, 'audiobook job created')
    return this.ownedJob(ownerId, jobId)
  }

  private spawn(jobId: string): void {
    this.options.registry.getOrSpawn(JOB_ACTOR_KIND, jobId, { jobId })
  }

  /** The caller's jobs, newest first. */
  async listJobs(ownerId: string, limit: number): Promise<OwnedJob[]> {
    const { db } = this.options
    const jobs = await db
      .select()
      .from(audiobookJobs)
      .where(eq(audiobookJobs.ownerId, ownerId))
      .orderBy(desc(audiobookJobs.createdAt), desc(audiobookJobs.id))
      .limit(limit)
    if (jobs.length === 0) return []
    const chapters = await db
      .select()
      .from(audiobookChapters)
      .where(
        inArray(
          audiobookChapters.jobId,
          jobs.map((job) => job.id),
        ),
      )
      .orderBy(asc(audiobookChapters.index))
    return jobs.map((job) => ({ job, chapters: chapters.filter((chapter) => chapter.jobId === job.id) }))
  }

  /** The job if `ownerId` owns it; 404 otherwise, so nobody learns whether another user's job exists. */
  async ownedJob(ownerId: string, jobId: string): Promise<OwnedJob> {
    const notFound = new NotFoundError('Job not found', 'JOB_NOT_FOUND')
    if (!UUID.test(jobId)) throw notFound
    const { db } = this.options
    const [job] = await db
      .select()
      .from(audiobookJobs)
      .where(and(eq(audiobookJobs.id, jobId), eq(audiobookJobs.ownerId, ownerId)))
    if (!job) throw notFound
    const chapters = await jobChapters(db, jobId)
    return { job, chapters }
  }

  /** The job and its stored chapters; 409 with the job's status while it is not COMPLETED. */
  async completedJob(ownerId: string, jobId: string): Promise<{ job: JobRow; chapters: ReadyChapter[] }> {
    const { job, chapters } = await this.ownedJob(ownerId, jobId)
    if (job.status !== 'COMPLETED') throw notCompleted(job)
    return { job, chapters: chapters.filter(isReady) }
  }

  /** Chapter `index` (1-based; the only chapter when omitted) of a completed job. */
  chapterOf(chapters: ReadyChapter[], index: number | undefined): ReadyChapter {
    const chapter = chapters[(index ?? 1) - 1]
    if (!chapter) {
      throw new NotFoundError(
        `Chapter ${index} does not exist: this audiobook has ${chapters.length} chapter${chapters.length === 1 ? '' : 's'}`,
        'CHAPTER_NOT_FOUND',
      )
    }
    return chapter
  }

  /** A signed URL that plays `chapter` inline in a browser. */
  streamingUrl(chapter: ReadyChapter): Promise<SignedUrl> {
    return this.options.blobs.signedUrl(chapter.fileKey, {
      expiresIn: this.options.signedUrlTtl,
      ...STREAM_HEADERS,
    })
  }

  /** A signed URL that downloads `chapter` as a file named after the book (and chapter). */
  downloadUrl(job: JobRow, chapter: ReadyChapter, chapterCount: number): Promise<SignedUrl> {
    const base = chapterCount === 1 ? job.title : `${job.title} - Chapter ${chapter.index}`
    return this.options.blobs.signedUrl(chapter.fileKey, {
      expiresIn: this.options.signedUrlTtl,
      contentType: STORED_CONTENT_TYPE,
      contentDisposition: contentDisposition(`${base.replace(/[/\\]/g, '-')}.mp3`, { type: 'attachment' }),
      cacheControl: STREAM_HEADERS.cacheControl,
    })
  }

  /** Stops the job's actor (killing its FFmpeg), waits for it to let go, then removes its blobs and rows. */
  async deleteJob(ownerId: string, jobId: string): Promise<void> {
    await this.ownedJob(ownerId, jobId)
    this.options.registry.stop(JOB_ACTOR_KIND, jobId)
    this.claims.forget(jobId)
    await this.processor.settled(jobId)
    this.slots.release(jobId)
    await this.processor.discardFiles(jobId)
    await this.options.db.delete(audiobookJobs).where(eq(audiobookJobs.id, jobId))
    log.info({ jobId, ownerId }, 'audiobook job deleted')
  }

  /**
   * Jobs this instance left PENDING or PROCESSING (a crash, a restart, a shutdown mid-transcode) are processed
   * again from their staged upload when it is complete; otherwise they become FAILED with a clear reason.
   */
  async recover(): Promise<{ resumed: string[]; failed: string[] }> {
    const { db } = this.options
    const unfinished = await db
      .select({ id: audiobookJobs.id })
      .from(audiobookJobs)
      .where(
        and(
          eq(audiobookJobs.nodeId, this.nodeId),
          inArray(audiobookJobs.status, ['PENDING', 'PROCESSING'] satisfies JobStatus[]),
        ),
      )
      .orderBy(asc(audiobookJobs.createdAt))
    const resumed: string[] = []
    const failed: string[] = []
    for (const { id } of unfinished) {
      const chapters = await db
        .select({ index: audiobookChapters.index })
        .from(audiobookChapters)
        .where(eq(audiobookChapters.jobId, id))
      const dir = this.processor.stagingDir(id)
      const complete =
        chapters.length > 0 && chapters.every(({ index }) => existsSync(join(dir, `source_${index}`)))
      if (complete) {
        const claim = this.claims.queueClaim()
        await db
          .update(audiobookJobs)
          .set({ status: 'PENDING', startedAt: null, updatedAt: new Date(), ...claim })
          .where(eq(audiobookJobs.id, id))
        this.claims.hold(id, claim.claimToken)
        this.spawn(id)
        resumed.push(id)
      } else {
        await this.processor.recordFailure(id, INTERRUPTED_REASON)
        failed.push(id)
      }
    }
    if (unfinished.length > 0) log.info({ resumed, failed }, 'audiobook jobs left unfinished by the last run')
    return { resumed, failed }
  }
}

function isReady(chapter: ChapterRow): chapter is ReadyChapter {
  return (
    chapter.fileKey !== null && chapter.start !== null && chapter.end !== null && chapter.duration !== null
  )
}

function notCompleted(job: JobRow): AppError {
  const message =
    job.status === 'FAILED'
      ? `Job ${job.id} FAILED: ${job.error}`
      : `Job ${job.id} is ${job.status}: its audio is ready once it is COMPLETED`
  return new AppError(
    409,
    'JOB_NOT_COMPLETED',
    message,
    {},
    { job_id: job.id, job_status: job.status, ...(job.error ? { error: job.error } : {}) },
  )
}

/** A random id generated once into DATA_DIR, like the development JWT secret. */
function nodeIdOf(dataDir: string): string {
  const file = join(dataDir, 'node-id')
  try {
    return readFileSync(file, 'utf8').trim()
  } catch {
    const id = crypto.randomUUID()
    mkdirSync(dataDir, { recursive: true })
    writeFileSync(file, `${id}\n`)
    return id
  }
}
