import { and, desc, eq, gte, ilike, inArray, lt, lte, or, type SQL, sql } from 'drizzle-orm'
import type { TransmissionEnded } from '../../actors/transmission.machine.ts'
import { databaseFault } from '../platform/db/faults.ts'
import type { Db } from '../platform/db/index.ts'
import { log } from '../platform/log.ts'
import { RetryingWriter } from '../platform/retrying-writer.ts'
import type { BlobStore } from '../platform/storage/blob-store.ts'
import { radioMetrics } from './metrics.ts'
import type { HistoryFilters } from './model.ts'
import { radioTransmissions } from './schema.ts'

export type TransmissionRow = typeof radioTransmissions.$inferSelect

/** `GET /api/v1/systems`: a system and the talkgroups heard on it. */
export interface SystemSummary {
  system: number
  label: string | null
  talkgroups: Array<{
    talkgroup: number
    label: string | null
    tag: string | null
    group: string | null
    last_call_at: string
  }>
}

/** Talkgroups `GET /api/v1/systems` lists at most. */
export const MAX_LISTED_TALKGROUPS = 10_000

export interface HistoryLimits {
  /** Ended transmissions kept waiting while the database or storage is down; the oldest go first past it. */
  maxPending: number
  /** Recording bytes kept waiting, likewise. */
  maxPendingBytes: number
  /** First retry delay; doubles per failure up to `maxRetryMs`. */
  retryMs: number
  maxRetryMs: number
}

export const DEFAULT_HISTORY_LIMITS: HistoryLimits = {
  maxPending: 10_000,
  maxPendingBytes: 256 * 1024 * 1024,
  retryMs: 500,
  maxRetryMs: 30_000,
}

interface PendingWrite {
  row: typeof radioTransmissions.$inferInsert
  recording: Uint8Array | null
  /** Set once the recording is in blob storage, so a retry only redoes the row. */
  stored: boolean
}

/** Blob key of a transmission's recording. */
export function recordingKey(transmissionId: string): string {
  return `recordings/${transmissionId}.ogg`
}

/**
 * The transmission history: rows in `radio_transmissions`, recordings in blob storage. Writes go through a
 * bounded queue drained by one worker, so a database outage never reaches the live path: ended transmissions
 * wait (with backoff) and are written when the database is back. `/health` reports the backlog.
 */
export class TransmissionHistory {
  private readonly queue: PendingWrite[] = []
  private queuedBytes = 0
  private lastError: string | undefined
  private readonly writer: RetryingWriter

  constructor(
    private readonly db: Db,
    private readonly blobs: BlobStore,
    private readonly limits: HistoryLimits = DEFAULT_HISTORY_LIMITS,
  ) {
    this.writer = new RetryingWriter({
      retryMs: limits.retryMs,
      maxRetryMs: limits.maxRetryMs,
      run: () => this.work(),
      pending: () => this.queue.length,
      onFailure: (err, retryInMs) => {
        this.lastError = (err as Error).message
        log.warn({ err, pending: this.queue.length, retryInMs }, 'transmission history write failed')
      },
    })
  }

  /** Queues an ended transmission (with its Ogg Opus recording when it was saved) for writing. */
  record(ended: TransmissionEnded, recording: Uint8Array | null): void {
    this.queue.push({
      row: {
        transmissionId: ended.transmissionId,
        slot: ended.slot,
        radioId: ended.radioId,
        talkgroupId: ended.talkgroupId,
        startedAt: new Date(ended.startedAt),
        endedAt: new Date(ended.endedAt),
        duration: Math.round((ended.durationSamples / 48_000) * 1000) / 1000,
        chunkCount: ended.chunkCount,
        recordingKey: recording ? recordingKey(ended.transmissionId) : null,
        recordingBytes: recording?.byteLength ?? null,
      },
      recording,
      stored: false,
    })
    this.queuedBytes += recording?.byteLength ?? 0
    this.enforceBounds()
    radioMetrics.historyPending.set(this.queue.length)
    this.writer.kick()
  }

  /** Writes waiting, and why the last attempt failed (undefined when the last attempt worked). */
  get backlog(): { pending: number; lastError: string | undefined } {
    return { pending: this.queue.length, lastError: this.lastError }
  }

  /** For /health: throws while writes are failing, resolves with a short summary otherwise. */
  async check(): Promise<string> {
    if (this.lastError !== undefined) {
      throw new Error(`${this.queue.length} transmission(s) waiting to be saved: ${this.lastError}`)
    }
    return `${this.queue.length} transmission(s) waiting to be saved`
  }

  /** Resolves once the queue is empty, or after `timeoutMs`; retries right away instead of waiting for backoff. */
  drain(timeoutMs: number): Promise<boolean> {
    return this.writer.drain(timeoutMs)
  }

  /** Stops retrying (shutdown); what is still queued is reported, not written. */
  stop(): void {
    this.writer.stop()
    if (this.queue.length > 0)
      log.error({ pending: this.queue.length }, 'transmissions not saved at shutdown')
  }

  /**
   * Writes a scanner call's recording and row now (not through the queue): the uploader is answered only once the
   * call is stored, so a failure here is its cue to retry and nothing is lost.
   */
  async storeCall(row: typeof radioTransmissions.$inferInsert, recording: Uint8Array): Promise<void> {
    await this.write({ row, recording, stored: false })
  }

  /** Ids of calls on `system`/`talkgroup` that started within `windowMs` of `startedAt` (duplicate uploads). */
  async callsNear(system: number, talkgroup: number, startedAt: number, windowMs: number): Promise<string[]> {
    const rows = await this.db
      .select({ id: radioTransmissions.transmissionId })
      .from(radioTransmissions)
      .where(
        and(
          eq(radioTransmissions.systemId, system),
          eq(radioTransmissions.talkgroupId, talkgroup),
          gte(radioTransmissions.startedAt, new Date(startedAt - windowMs)),
          lte(radioTransmissions.startedAt, new Date(startedAt + windowMs)),
        ),
      )
    return rows.map((r) => r.id)
  }

  /** Systems and talkgroups heard so far, with their newest labels (`GET /api/v1/systems`). */
  async systems(): Promise<SystemSummary[]> {
    const rows = await this.db
      .selectDistinctOn([radioTransmissions.systemId, radioTransmissions.talkgroupId], {
        system: radioTransmissions.systemId,
        systemLabel: radioTransmissions.systemLabel,
        talkgroup: radioTransmissions.talkgroupId,
        label: radioTransmissions.talkgroupLabel,
        tag: radioTransmissions.talkgroupTag,
        group: radioTransmissions.talkgroupGroup,
        lastCallAt: radioTransmissions.startedAt,
      })
      .from(radioTransmissions)
      .where(sql`${radioTransmissions.systemId} is not null`)
      .orderBy(
        radioTransmissions.systemId,
        radioTransmissions.talkgroupId,
        desc(radioTransmissions.startedAt),
      )
      .limit(MAX_LISTED_TALKGROUPS)
    const systems = new Map<number, SystemSummary>()
    for (const row of rows) {
      if (row.system === null) continue
      let system = systems.get(row.system)
      if (!system) {
        system = { system: row.system, label: row.systemLabel, talkgroups: [] }
        systems.set(row.system, system)
      }
      system.label ??= row.systemLabel
      system.talkgroups.push({
        talkgroup: row.talkgroup,
        label: row.label,
        tag: row.tag,
        group: row.group,
        last_call_at: row.lastCallAt.toISOString(),
      })
    }
    return [...systems.values()]
  }

  async list(filters: HistoryFilters): Promise<TransmissionRow[]> {
    const where: (SQL | undefined)[] = []
    if (filters.slot !== undefined) where.push(eq(radioTransmissions.slot, filters.slot))
    if (filters.radioId !== undefined) where.push(eq(radioTransmissions.radioId, filters.radioId))
    if (filters.talkgroupIds !== undefined)
      where.push(inArray(radioTransmissions.talkgroupId, filters.talkgroupIds))
    if (filters.system !== undefined) where.push(eq(radioTransmissions.systemId, filters.system))
    if (filters.emergency !== undefined) where.push(eq(radioTransmissions.emergency, filters.emergency))
    if (filters.source !== undefined)
      where.push(sql`${radioTransmissions.sources} @> ${JSON.stringify([{ src: filters.source }])}::jsonb`)
    if (filters.q !== undefined) {
      const pattern = `%${filters.q.replace(/[\\%_]/g, (c) => `\\${c}`)}%`
      where.push(
        or(
          ilike(radioTransmissions.systemLabel, pattern),
          ilike(radioTransmissions.talkgroupLabel, pattern),
          ilike(radioTransmissions.talkgroupTag, pattern),
          ilike(radioTransmissions.talkgroupGroup, pattern),
          sql`${radioTransmissions.sources}::text ilike ${pattern}`,
        ),
      )
    }
    if (filters.from) where.push(gte(radioTransmissions.startedAt, filters.from))
    if (filters.to) where.push(lte(radioTransmissions.startedAt, filters.to))
    if (filters.before) {
      // Newest first, so the next page is what sorts after the last row: older, or as old with a smaller id.
      const at = new Date(filters.before.startedAt)
      where.push(
        or(
          lt(radioTransmissions.startedAt, at),
          and(eq(radioTransmissions.startedAt, at), lt(radioTransmissions.transmissionId, filters.before.id)),
        ),
      )
    }
    return this.db
      .select()
      .from(radioTransmissions)
      .where(and(...where))
      .orderBy(desc(radioTransmissions.startedAt), desc(radioTransmissions.transmissionId))
      .limit(filters.limit)
  }

  async get(transmissionId: string): Promise<TransmissionRow | undefined> {
    const [row] = await this.db
      .select()
      .from(radioTransmissions)
      .where(eq(radioTransmissions.transmissionId, transmissionId))
    return row
  }

  private enforceBounds(): void {
    while (
      this.queue.length > this.limits.maxPending ||
      (this.queuedBytes > this.limits.maxPendingBytes && this.queue.length > 1)
    ) {
      const dropped = this.queue.shift()
      this.queuedBytes -= dropped?.recording?.byteLength ?? 0
      radioMetrics.historyDropped.inc()
      log.error({ transmissionId: dropped?.row.transmissionId }, 'history queue full: transmission dropped')
    }
  }

  /**
   * One run of the writer: each waiting transmission in order (a failure is retried by `writer`). A row the database
   * refuses for its values (SQLSTATE class 22) would be refused on every retry and hold up every later one: it is
   * dropped, counted and logged instead.
   */
  private async work(): Promise<void> {
    for (let next = this.queue[0]; next; next = this.queue[0]) {
      try {
        await this.write(next)
      } catch (err) {
        if (databaseFault(err) !== 'invalid-value') throw err
        radioMetrics.historyDropped.inc()
        log.error(
          { err, transmissionId: next.row.transmissionId },
          'transmission refused by the database: dropped',
        )
      }
      this.queue.shift()
      this.queuedBytes -= next.recording?.byteLength ?? 0
      radioMetrics.historyPending.set(this.queue.length)
      if (this.writer.progressed())
        log.info({ pending: this.queue.length }, 'transmission history writes resumed')
      this.lastError = undefined
    }
  }

  private async write(pending: PendingWrite): Promise<void> {
    if (pending.recording && !pending.stored) {
      await this.blobs.put(recordingKey(pending.row.transmissionId), pending.recording, 'audio/ogg')
      pending.stored = true
    }
    // A retry after a lost reply must not fail on the row it already wrote.
    await this.db.insert(radioTransmissions).values(pending.row).onConflictDoNothing()
  }
}
