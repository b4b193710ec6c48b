/**
 * Listening progress, one row per user and job, shared by all the user's devices.
 *
 * Every accepted write bumps `version`. A write that sends back the version it last saw is the newest word from
 * that listener and may move the position anywhere (a deliberate rewind included). A write based on an older
 * version (another device or session saved since) or on no version at all may only move the position forward:
 * a late save from an old tab can never drag a listener back. The check and the write are one SQL statement.
 */
import { and, eq, lte, or, sql } from 'drizzle-orm'
import type { Db } from '../platform/db/index.ts'
import { AppError } from '../platform/errors.ts'
import { audiobookProgress } from './schema.ts'

export interface Progress {
  position: number
  chapter: number | null
  version: number
  updatedAt: Date | null
}

export interface ProgressWrite {
  position: number
  chapter: number | null
  /** The version this writer last read or wrote; absent when it never read one. */
  version?: number
}

const NONE: Progress = { position: 0, chapter: null, version: 0, updatedAt: null }

export class ProgressStore {
  constructor(private readonly db: Db) {}

  async get(userId: string, jobId: string): Promise<Progress> {
    const [row] = await this.db
      .select()
      .from(audiobookProgress)
      .where(and(eq(audiobookProgress.userId, userId), eq(audiobookProgress.jobId, jobId)))
    return row ?? NONE
  }

  /** Saves `write` and returns the stored progress, or throws 409 STALE_PROGRESS carrying the current one. */
  async save(userId: string, jobId: string, write: ProgressWrite): Promise<Progress> {
    const now = new Date()
    const [row] = await this.db
      .insert(audiobookProgress)
      .values({ userId, jobId, position: write.position, chapter: write.chapter, version: 1, updatedAt: now })
      .onConflictDoUpdate({
        target: [audiobookProgress.userId, audiobookProgress.jobId],
        set: {
          position: sql`excluded.position`,
          chapter: sql`excluded.chapter`,
          version: sql`${audiobookProgress.version} + 1`,
          updatedAt: now,
        },
        setWhere: or(
          eq(audiobookProgress.version, write.version ?? -1),
          lte(audiobookProgress.position, sql`excluded.position`),
        ),
      })
      .returning()
    if (row) return row
    const current = await this.get(userId, jobId)
    throw new AppError(
      409,
      'STALE_PROGRESS',
      `Progress was saved at ${current.position.toFixed(1)} s by a newer session (version ${current.version}); ` +
        'send that version to move it back',
      {},
      { progress: progressJson(jobId, current) },
    )
  }
}

/** The wire shape of progress. */
export function progressJson(jobId: string, progress: Progress) {
  return {
    job_id: jobId,
    position: progress.position,
    chapter: progress.chapter,
    version: progress.version,
    updated_at: progress.updatedAt?.toISOString() ?? null,
  }
}
