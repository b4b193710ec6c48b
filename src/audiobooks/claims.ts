/**
 * Who processes an audiobook job, decided in the database so a job is transcoded once however many instances share
 * it (issue 14). A job is claimed by one instance at a time: `claimed_by`, a `claim_token` and `claim_expires_at`,
 * which the holder pushes forward every `renewMs` while it queues or processes the job. Taking a job for processing
 * is one atomic UPDATE that only succeeds for the holder of its queue claim, or when nobody's claim is alive (its
 * instance died, or stalled past the expiry); it hands out a new token. The outcome is only recorded under that
 * token, so an instance that lost its claim can never overwrite the new holder's work. All times are the database's.
 *
 * A claim counts as lost only when the database shows the job deleted or holding another token. A renewal never
 * sees a claim whose row is not committed yet (it is held from `hold`, after the commit) nor one this instance is
 * replacing at that moment (`claim` in flight), and a job finished under this instance's own token was not lost.
 */
import { and, asc, eq, inArray, isNull, lt, or, type SQL, sql } from 'drizzle-orm'
import type { Db } from '../platform/db/index.ts'
import { log } from '../platform/log.ts'
import { audiobookJobs, type JobStatus } from './schema.ts'

const UNFINISHED: JobStatus[] = ['PENDING', 'PROCESSING']

export class JobClaims {
  /** The token this instance holds for each job it has queued or is processing. */
  private readonly held = new Map<string, string>()
  /** Jobs whose token `claim` is replacing right now: a renewal that raced it must not take that for a loss. */
  private readonly claiming = new Set<string>()
  private readonly timer: ReturnType<typeof setInterval>
  /** Called with a job whose claim this instance lost (another instance holds it now, or it was deleted). */
  onLost: (jobId: string) => void = () => {}

  constructor(
    private readonly db: Db,
    readonly instanceId: string,
    readonly ttlMs: number,
  ) {
    this.timer = setInterval(() => void this.renew(), this.renewMs)
  }

  /** Claims are renewed three times per expiry, so one late renewal never loses a claim. */
  get renewMs(): number {
    return Math.max(200, Math.floor(this.ttlMs / 3))
  }

  /**
   * The claim columns of a job queued on this instance. Write them, then `hold` the token once the write is
   * committed: a renewal before that would find no such claim and count it lost.
   */
  queueClaim(): { claimedBy: string; claimToken: string; claimExpiresAt: SQL } {
    return { claimedBy: this.instanceId, claimToken: crypto.randomUUID(), claimExpiresAt: this.expiry() }
  }

  /** Renews `claimToken`'s claim of `jobId` from now on (its row, from `queueClaim`, is committed). */
  hold(jobId: string, claimToken: string): void {
    this.held.set(jobId, claimToken)
  }

  /**
   * Takes `jobId` for processing: resolves with the new token, or null when another instance holds the job (or it
   * is finished or gone). Sets the job PROCESSING.
   */
  async claim(jobId: string): Promise<string | null> {
    const token = crypto.randomUUID()
    const free = or(isNull(audiobookJobs.claimExpiresAt), lt(audiobookJobs.claimExpiresAt, sql`now()`))
    const queuedHere = this.held.get(jobId)
    const now = new Date()
    let taken: Array<{ id: string }>
    this.claiming.add(jobId)
    try {
      taken = await this.db
        .update(audiobookJobs)
        .set({
          status: 'PROCESSING',
          startedAt: now,
          updatedAt: now,
          error: null,
          claimedBy: this.instanceId,
          claimToken: token,
          claimExpiresAt: this.expiry(),
        })
        .where(
          and(
            eq(audiobookJobs.id, jobId),
            or(
              and(
                eq(audiobookJobs.status, 'PENDING'),
                queuedHere ? or(eq(audiobookJobs.claimToken, queuedHere), free) : free,
              ),
              and(eq(audiobookJobs.status, 'PROCESSING'), free),
            ),
          ),
        )
        .returning({ id: audiobookJobs.id })
    } finally {
      // In the same turn as the `held` update below, so a renewal sees either the old token marked or the new one.
      this.claiming.delete(jobId)
    }
    if (taken.length === 0) {
      this.held.delete(jobId)
      return null
    }
    this.held.set(jobId, token)
    return token
  }

  /** This instance's token for `jobId`, if it holds one. */
  tokenOf(jobId: string): string | undefined {
    return this.held.get(jobId)
  }

  /** Stops renewing `jobId` (its processing ended). */
  forget(jobId: string): void {
    this.held.delete(jobId)
  }

  /** Unfinished jobs nobody holds (their instance died, or they predate claims), oldest first. */
  async claimable(limit: number): Promise<string[]> {
    const rows = await this.db
      .select({ id: audiobookJobs.id })
      .from(audiobookJobs)
      .where(
        and(
          inArray(audiobookJobs.status, UNFINISHED),
          or(isNull(audiobookJobs.claimExpiresAt), lt(audiobookJobs.claimExpiresAt, sql`now()`)),
        ),
      )
      .orderBy(asc(audiobookJobs.createdAt))
      .limit(limit)
    return rows.map((row) => row.id)
  }

  /** Stops renewing (the claims expire by themselves). */
  stop(): void {
    clearInterval(this.timer)
  }

  /** Shutdown: stops renewing and lets go of every held claim, so another instance takes the jobs at once. */
  async releaseAll(): Promise<void> {
    this.stop()
    const tokens = [...this.held.values()]
    this.held.clear()
    if (tokens.length === 0) return
    await this.db
      .update(audiobookJobs)
      .set({ claimExpiresAt: null })
      .where(inArray(audiobookJobs.claimToken, tokens))
      .catch((err: unknown) =>
        log.warn({ err }, 'could not release audiobook job claims; they expire by themselves'),
      )
  }

  private expiry(): SQL {
    return sql`now() + ${`${this.ttlMs} milliseconds`}::interval`
  }

  /** Pushes every held claim's expiry forward; a claim the database shows deleted or another's is lost. */
  private async renew(): Promise<void> {
    const renewing = [...this.held.entries()]
    if (renewing.length === 0) return
    // Still this instance's to judge: not dropped, nor being replaced by `claim`, while the renewal ran.
    const unchanged = ([jobId, token]: [string, string]) =>
      this.held.get(jobId) === token && !this.claiming.has(jobId)
    let missed: Array<[string, string]>
    let current: Map<string, string | null>
    try {
      const rows = await this.db
        .update(audiobookJobs)
        .set({ claimExpiresAt: this.expiry() })
        .where(
          and(
            inArray(
              audiobookJobs.claimToken,
              renewing.map(([, token]) => token),
            ),
            inArray(audiobookJobs.status, UNFINISHED),
          ),
        )
        .returning({ token: audiobookJobs.claimToken })
      const kept = new Set(rows.map((row) => row.token))
      missed = renewing.filter((entry) => !kept.has(entry[1]) && unchanged(entry))
      if (missed.length === 0) return
      // Not renewed: finished here under this token (nothing lost), or deleted, or another instance's now.
      const found = await this.db
        .select({ id: audiobookJobs.id, token: audiobookJobs.claimToken })
        .from(audiobookJobs)
        .where(
          inArray(
            audiobookJobs.id,
            missed.map(([jobId]) => jobId),
          ),
        )
      current = new Map(found.map((row) => [row.id, row.token]))
    } catch (err) {
      // The database is unreachable: the claims hold until they expire, and the outcome is fenced by its token.
      log.warn({ err }, 'could not renew audiobook job claims')
      return
    }
    for (const entry of missed) {
      if (!unchanged(entry)) continue
      const [jobId, token] = entry
      this.held.delete(jobId)
      if (current.get(jobId) !== token) this.onLost(jobId)
    }
  }
}
