/**
 * The work behind a job actor's steps: claim the job (src/audiobooks/claims.ts), probe every chapter, transcode it to
 * MP3 unless it already is, store it as a blob and record durations, sizes and chapter times under the claim; or
 * record why the job failed. In a cluster the uploaded files are kept in the blob store too, so any instance can
 * process the job when the one it was uploaded to dies.
 */
import { existsSync } from 'node:fs'
import { mkdir, rm, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { and, asc, eq } from 'drizzle-orm'
import type { JobResult } from '../../actors/job.machine.ts'
import type { Db } from '../platform/db/index.ts'
import { type AudioProbe, probeAudio, UnreadableAudioError } from '../platform/ffprobe.ts'
import { log } from '../platform/log.ts'
import { transcodeToMp3 } from '../platform/mp3-transcode.ts'
import { ProcessError } from '../platform/process.ts'
import type { BlobStore } from '../platform/storage/blob-store.ts'
import type { JobClaims } from './claims.ts'
import { audiobookMetrics } from './metrics.ts'
import { audiobookChapters, audiobookJobs } from './schema.ts'

/** Explicit bounds on one chapter's processing. */
export const PROCESSING_LIMITS = {
  probeTimeoutMs: 30_000,
  /** Longest chapter accepted: 12 hours (about 690 MB of MP3 at the bitrate below). */
  maxChapterSeconds: 12 * 3600,
  mp3BitrateKbps: 128,
  maxOutputBytes: 1024 * 1024 * 1024,
  /** A transcode may take a minute plus half a second per second of audio (MP3 encodes far faster). */
  transcodeTimeoutMs: (durationSeconds: number) => 60_000 + Math.ceil(durationSeconds * 500),
} as const

export const STORED_CONTENT_TYPE = 'audio/mpeg'

/** A failure whose message is fit to show the job's owner; any other error is logged and reported generically. */
export class JobFailure extends Error {
  override name = 'JobFailure'
}

/** Blob key of chapter `index`: `audio.mp3` for a one-file job, `chapter_{n}.mp3` otherwise (as documented). */
/** A job's chapters in order. */
export function jobChapters(db: Db, jobId: string) {
  return db
    .select()
    .from(audiobookChapters)
    .where(eq(audiobookChapters.jobId, jobId))
    .orderBy(asc(audiobookChapters.index))
}

export function chapterKey(jobId: string, index: number, chapterCount: number): string {
  return chapterCount === 1 ? `jobs/${jobId}/audio.mp3` : `jobs/${jobId}/chapter_${index}.mp3`
}

export function jobPrefix(jobId: string): string {
  return `jobs/${jobId}/`
}

/** Where a cluster keeps chapter `index`'s uploaded file until the job is processed. */
export function sourceKey(jobId: string, index: number): string {
  return `${jobPrefix(jobId)}sources/source_${index}`
}

/** Why a job cannot be processed when its upload is gone. */
export const UPLOAD_GONE_REASON = 'The upload is no longer available; upload it again'

/** The job's claim went to another instance (or the job was deleted) while this one worked on it. */
class ClaimLost extends Error {
  override name = 'ClaimLost'
}

export interface ProcessorOptions {
  db: Db
  blobs: BlobStore
  ffmpegPath: string
  ffprobePath: string
  /** Where uploads are staged: `<stagingRoot>/<jobId>/source_{n}`. */
  stagingRoot: string
  claims: JobClaims
  /** Uploads are kept in the blob store too (a cluster): any instance can process any job. */
  sharedSources: boolean
}

interface StoredChapter {
  index: number
  fileKey: string
  fileSize: number
  duration: number
  sourceFormat: string
}

export class JobProcessor {
  /** The running `process` call of each job, so a delete can wait for it to let go of its files. */
  private readonly running = new Map<string, Promise<unknown>>()

  constructor(private readonly options: ProcessorOptions) {}

  stagingDir(jobId: string): string {
    return join(this.options.stagingRoot, jobId)
  }

  /** Puts the staged upload of `jobId` in the blob store, for whichever instance ends up processing it. */
  async shareSources(jobId: string, chapterCount: number): Promise<void> {
    for (let index = 1; index <= chapterCount; index++) {
      const path = join(this.stagingDir(jobId), `source_${index}`)
      await this.options.blobs.put(sourceKey(jobId, index), Bun.file(path), 'application/octet-stream')
    }
  }

  /**
   * Processes `jobId` from its staged upload and records it COMPLETED; resolves with null when another instance
   * holds it. Throws JobFailure with a readable reason.
   */
  process(jobId: string, signal: AbortSignal): Promise<JobResult | null> {
    const run = this.run(jobId, signal)
    const settled = run.catch(() => undefined)
    this.running.set(jobId, settled)
    void settled.then(() => {
      if (this.running.get(jobId) === settled) this.running.delete(jobId)
    })
    return run
  }

  /** Resolves when `jobId` has no `process` call running (it should have been aborted first). */
  async settled(jobId: string): Promise<void> {
    await this.running.get(jobId)
  }

  private async run(jobId: string, signal: AbortSignal): Promise<JobResult | null> {
    const { db } = this.options
    const token = await this.options.claims.claim(jobId)
    if (!token) return null
    const chapters = await jobChapters(db, jobId)
    if (this.options.sharedSources) await this.fetchSources(jobId, chapters.length)

    const stored: StoredChapter[] = []
    for (const chapter of chapters) {
      signal.throwIfAborted()
      const label =
        chapters.length === 1
          ? `"${chapter.sourceName}"`
          : `Chapter ${chapter.index} ("${chapter.sourceName}")`
      try {
        stored.push(await this.storeChapter(jobId, chapter.index, chapters.length, signal))
      } catch (error) {
        throw this.readable(error, label, jobId, signal)
      }
    }
    signal.throwIfAborted()
    return this.recordCompletion(jobId, token, stored).catch((error: unknown) => {
      if (error instanceof ClaimLost) return null
      throw this.readable(error, 'Saving the results', jobId, signal)
    })
  }

  /** Brings the chapters' uploaded files from the blob store when they were staged on another instance. */
  private async fetchSources(jobId: string, chapterCount: number): Promise<void> {
    const dir = this.stagingDir(jobId)
    await mkdir(dir, { recursive: true })
    for (let index = 1; index <= chapterCount; index++) {
      const path = join(dir, `source_${index}`)
      if (existsSync(path)) continue
      const key = sourceKey(jobId, index)
      if (!(await this.options.blobs.stat(key))) throw new JobFailure(UPLOAD_GONE_REASON)
      await Bun.write(path, new Response(await this.options.blobs.read(key)))
    }
  }

  private async storeChapter(
    jobId: string,
    index: number,
    chapterCount: number,
    signal: AbortSignal,
  ): Promise<StoredChapter> {
    const { ffmpegPath, ffprobePath, blobs } = this.options
    const source = join(this.stagingDir(jobId), `source_${index}`)
    const probeOptions = { timeoutMs: PROCESSING_LIMITS.probeTimeoutMs, signal }
    const probe = await probeAudio(ffprobePath, source, probeOptions)
    if (probe.duration > PROCESSING_LIMITS.maxChapterSeconds) {
      throw new JobFailure(
        `is ${formatHours(probe.duration)} long; a chapter may be at most ${formatHours(PROCESSING_LIMITS.maxChapterSeconds)}`,
      )
    }
    let output = source
    let listened: AudioProbe = probe
    if (!isMp3(probe)) {
      output = join(this.stagingDir(jobId), `chapter_${index}.mp3`)
      await transcodeToMp3(ffmpegPath, source, output, {
        bitrateKbps: PROCESSING_LIMITS.mp3BitrateKbps,
        maxSeconds: PROCESSING_LIMITS.maxChapterSeconds,
        maxOutputBytes: PROCESSING_LIMITS.maxOutputBytes,
        timeoutMs: PROCESSING_LIMITS.transcodeTimeoutMs(probe.duration),
        signal,
      })
      audiobookMetrics.chaptersTranscoded.inc()
      // The stored file's own duration is what listeners get (the encoder adds a few ms of padding).
      listened = await probeAudio(ffprobePath, output, probeOptions)
    }
    const { size } = await stat(output)
    if (size >= PROCESSING_LIMITS.maxOutputBytes) throw new JobFailure('made an MP3 larger than 1 GiB')
    const fileKey = chapterKey(jobId, index, chapterCount)
    signal.throwIfAborted()
    await blobs.put(fileKey, Bun.file(output), STORED_CONTENT_TYPE)
    return { index, fileKey, fileSize: size, duration: listened.duration, sourceFormat: probe.formatName }
  }

  /** Records the results, only while `token` still holds the job (ClaimLost otherwise, and nothing is written). */
  private async recordCompletion(jobId: string, token: string, stored: StoredChapter[]): Promise<JobResult> {
    const duration = stored.reduce((sum, chapter) => sum + chapter.duration, 0)
    const fileSize = stored.reduce((sum, chapter) => sum + chapter.fileSize, 0)
    const now = new Date()
    await this.options.db.transaction(async (tx) => {
      const held = await tx
        .update(audiobookJobs)
        .set({
          status: 'COMPLETED',
          format: STORED_CONTENT_TYPE,
          duration,
          fileSize,
          completedAt: now,
          updatedAt: now,
          claimExpiresAt: null,
        })
        .where(and(eq(audiobookJobs.id, jobId), eq(audiobookJobs.claimToken, token)))
        .returning({ id: audiobookJobs.id })
      if (held.length === 0) throw new ClaimLost()
      let start = 0
      for (const chapter of stored) {
        await tx
          .update(audiobookChapters)
          .set({
            fileKey: chapter.fileKey,
            fileSize: chapter.fileSize,
            sourceFormat: chapter.sourceFormat,
            start,
            end: start + chapter.duration,
            duration: chapter.duration,
          })
          .where(and(eq(audiobookChapters.jobId, jobId), eq(audiobookChapters.index, chapter.index)))
        start += chapter.duration
      }
    })
    await rm(this.stagingDir(jobId), { recursive: true, force: true })
    if (this.options.sharedSources) {
      await this.options.blobs
        .deletePrefix(`${jobPrefix(jobId)}sources/`)
        .catch((err: unknown) => log.warn({ err, jobId }, 'could not remove the shared upload of a job'))
    }
    return { duration, fileSize, chapterCount: stored.length }
  }

  /**
   * Records FAILED with `reason`, removes whatever was stored and the staged upload. With `token`, only while that
   * claim still holds the job: when another instance holds it, only this instance's staged files are removed. A
   * deleted job is left alone.
   */
  async recordFailure(jobId: string, reason: string, token?: string): Promise<void> {
    const now = new Date()
    const recorded = await this.options.db
      .update(audiobookJobs)
      .set({ status: 'FAILED', error: reason, updatedAt: now, claimExpiresAt: null })
      .where(
        token
          ? and(eq(audiobookJobs.id, jobId), eq(audiobookJobs.claimToken, token))
          : eq(audiobookJobs.id, jobId),
      )
      .returning({ id: audiobookJobs.id })
    if (recorded.length === 0 && token && (await this.exists(jobId))) {
      await rm(this.stagingDir(jobId), { recursive: true, force: true })
      return
    }
    await this.discardFiles(jobId)
    log.info({ jobId, reason }, 'audiobook job failed')
  }

  /** Whether the job's row is still there (not deleted). */
  async exists(jobId: string): Promise<boolean> {
    const rows = await this.options.db
      .select({ id: audiobookJobs.id })
      .from(audiobookJobs)
      .where(eq(audiobookJobs.id, jobId))
    return rows.length > 0
  }

  /** Removes the job's blobs and staged upload. */
  async discardFiles(jobId: string): Promise<void> {
    await this.options.blobs.deletePrefix(jobPrefix(jobId))
    await rm(this.stagingDir(jobId), { recursive: true, force: true })
  }

  /** Turns any error into one whose message can be shown to the owner; unexpected ones are logged in full. */
  private readable(error: unknown, label: string, jobId: string, signal: AbortSignal): Error {
    if (signal.aborted) return error as Error
    if (error instanceof JobFailure) return new JobFailure(`${label} ${error.message}`)
    if (error instanceof UnreadableAudioError) {
      return new JobFailure(`${label} is not a readable audio file: ${error.message}`)
    }
    if (error instanceof ProcessError && error.kind === 'timeout') {
      return new JobFailure(`${label} took too long to process`)
    }
    log.error({ err: error, jobId }, 'audiobook job failed unexpectedly')
    return new JobFailure(`${label} failed because of a server error; try again later`)
  }
}

function isMp3(probe: AudioProbe): boolean {
  return probe.formatName === 'mp3' && probe.codecName === 'mp3'
}

function formatHours(seconds: number): string {
  return `${Math.round((seconds / 3600) * 10) / 10} hours`
}
