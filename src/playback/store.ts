/**
 * Saved playback sessions (`playback_sessions`). `save` only queues: one writer drains the queue in multi-row
 * upserts, so the actor loop never waits for the database and many users' writes cost one statement. A row is
 * only ever replaced by a newer session (`updated_at`), checked in that same statement, so a late or repeated
 * write cannot take a session back. While the database is down, writes wait (one per user, the newest) and are
 * retried with backoff.
 */
import { eq, lte, sql } from 'drizzle-orm'
import type { PlaybackSession } from '../../actors/playback.machine.ts'
import { databaseFault } from '../platform/db/faults.ts'
import type { Db } from '../platform/db/index.ts'
import { log } from '../platform/log.ts'
import { RetryingWriter } from '../platform/retrying-writer.ts'
import { playbackMetrics } from './metrics.ts'
import { playbackSessions } from './schema.ts'

export interface SessionStoreLimits {
  /** Rows per upsert statement. */
  maxBatch: number
  /** Sessions waiting to be written; past it the oldest waiting one is dropped and counted. */
  maxQueued: number
  /** First retry delay after a failed write; doubles up to `maxRetryMs`. */
  retryMs: number
  maxRetryMs: number
}

export const DEFAULT_STORE_LIMITS: SessionStoreLimits = {
  maxBatch: 1000,
  maxQueued: 100_000,
  retryMs: 500,
  maxRetryMs: 30_000,
}

type Row = typeof playbackSessions.$inferInsert

function toRow(userId: string, session: PlaybackSession): Row {
  return {
    userId,
    trackId: session.trackId,
    position: session.position,
    duration: session.duration,
    isPlaying: session.playing,
    updatedAt: new Date(session.updatedAt),
    deviceId: session.deviceId,
  }
}

function toSession(row: typeof playbackSessions.$inferSelect): PlaybackSession {
  return {
    trackId: row.trackId,
    position: row.position,
    duration: row.duration,
    playing: row.isPlaying,
    updatedAt: row.updatedAt.getTime(),
    deviceId: row.deviceId,
  }
}

export class SessionStore {
  /** The newest unwritten session of each user, in the order they were first queued. */
  private readonly queue = new Map<string, PlaybackSession>()
  private readonly writer: RetryingWriter

  constructor(
    private readonly db: Db,
    private readonly limits: SessionStoreLimits = DEFAULT_STORE_LIMITS,
  ) {
    this.writer = new RetryingWriter({
      retryMs: limits.retryMs,
      maxRetryMs: limits.maxRetryMs,
      run: () => this.write(),
      pending: () => this.queue.size,
      onFailure: (err, retryInMs) =>
        log.warn({ err, pending: this.queue.size, retryInMs }, 'saving playback sessions failed'),
    })
  }

  /** The user's session as last saved, including one still waiting to be written. */
  async load(userId: string): Promise<PlaybackSession | undefined> {
    const queued = this.queue.get(userId)
    if (queued) return queued
    const [row] = await this.db.select().from(playbackSessions).where(eq(playbackSessions.userId, userId))
    return row ? toSession(row) : undefined
  }

  /** Queues `session` to be written; it replaces any unwritten one of the same user. */
  save(userId: string, session: PlaybackSession): void {
    if (!this.queue.has(userId) && this.queue.size >= this.limits.maxQueued) {
      const oldest = this.queue.keys().next().value
      if (oldest !== undefined) this.queue.delete(oldest)
      playbackMetrics.writesDropped.inc()
    }
    this.queue.set(userId, session)
    playbackMetrics.writesPending.set(this.queue.size)
    this.writer.kick()
  }

  /**
   * Writes `sessions` now, in statements of at most `maxBatch` rows, under the same newest-wins rule (sessions another
   * instance left unsaved). Rejects when the database cannot take them; the caller keeps them and tries again.
   */
  async writeNow(sessions: Array<{ userId: string; session: PlaybackSession }>): Promise<void> {
    for (let i = 0; i < sessions.length; i += this.limits.maxBatch) {
      const batch = sessions.slice(i, i + this.limits.maxBatch)
      await this.upsertOrDrop(batch.map(({ userId, session }) => toRow(userId, session)))
      playbackMetrics.sessionsWritten.inc(batch.length)
    }
  }

  /** Resolves once everything queued is written (true), or after `timeoutMs` (false); retries at once. */
  drain(timeoutMs: number): Promise<boolean> {
    return this.writer.drain(timeoutMs)
  }

  /** Stops retrying (shutdown, after `drain`); what is still queued is reported, not written. */
  stop(): void {
    this.writer.stop()
    if (this.queue.size > 0)
      log.error({ pending: this.queue.size }, 'playback sessions not saved at shutdown')
  }

  /** One run of the writer: multi-row upserts until the queue is empty (a failure is retried by `writer`). */
  private async write(): Promise<void> {
    while (this.queue.size > 0) {
      const batch = this.queue.entries().take(this.limits.maxBatch).toArray()
      await this.upsertOrDrop(batch.map(([userId, session]) => toRow(userId, session)))
      // A session queued again while this batch was written stays queued.
      for (const [userId, session] of batch) {
        if (this.queue.get(userId) === session) this.queue.delete(userId)
      }
      playbackMetrics.sessionsWritten.inc(batch.length)
      playbackMetrics.writesPending.set(this.queue.size)
      this.writer.progressed()
    }
  }

  /**
   * Upserts `rows`. When the database refuses the statement for a value in it (SQLSTATE class 22), one bad row would
   * block every user's writes on every retry: the rows are written one by one and those refused are dropped (counted,
   * logged). Any other failure is thrown, for `writer` to retry.
   */
  private async upsertOrDrop(rows: Row[]): Promise<void> {
    try {
      await this.upsert(rows)
      return
    } catch (err) {
      if (databaseFault(err) !== 'invalid-value') throw err
    }
    for (const row of rows) {
      try {
        await this.upsert([row])
      } catch (err) {
        if (databaseFault(err) !== 'invalid-value') throw err
        playbackMetrics.writesDropped.inc()
        log.error({ err, userId: row.userId }, 'playback session refused by the database: dropped')
      }
    }
  }

  private async upsert(rows: Row[]): Promise<void> {
    await this.db
      .insert(playbackSessions)
      .values(rows)
      .onConflictDoUpdate({
        target: playbackSessions.userId,
        set: {
          trackId: sql`excluded.track_id`,
          position: sql`excluded.position`,
          duration: sql`excluded.duration`,
          isPlaying: sql`excluded.is_playing`,
          updatedAt: sql`excluded.updated_at`,
          deviceId: sql`excluded.device_id`,
        },
        setWhere: lte(playbackSessions.updatedAt, sql`excluded.updated_at`),
      })
  }
}
