import {
  bigint,
  doublePrecision,
  index,
  integer,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uuid,
} from 'drizzle-orm/pg-core'

export const JOB_STATUSES = ['PENDING', 'PROCESSING', 'COMPLETED', 'FAILED'] as const
export type JobStatus = (typeof JOB_STATUSES)[number]

/** One uploaded audiobook and its processing state. Totals are filled in when it completes. */
export const audiobookJobs = pgTable(
  'audiobook_jobs',
  {
    id: uuid('id').primaryKey(),
    /** The JWT subject that uploaded it; nobody else ever reaches it. */
    ownerId: text('owner_id').notNull(),
    title: text('title').notNull(),
    status: text('status', { enum: JOB_STATUSES }).notNull(),
    /** Why it FAILED, fit to show the owner. */
    error: text('error'),
    /** MIME type of the stored audio (`audio/mpeg`) once completed. */
    format: text('format'),
    /** Seconds, all chapters together. */
    duration: doublePrecision('duration'),
    /** Bytes stored, all chapters together. */
    fileSize: bigint('file_size', { mode: 'number' }),
    /**
     * The server instance whose DATA_DIR holds the staged upload: only it can resume the job after a restart,
     * so instances sharing one database never fail each other's jobs.
     */
    nodeId: text('node_id').notNull(),
    /**
     * The instance that holds the job (INSTANCE_ID): queued there, or transcoding there. Only the holder of
     * `claim_token` processes the job and records its outcome; a claim not renewed by `claim_expires_at` (its
     * instance died), or without one (let go at shutdown), may be taken by another instance, with a new token.
     */
    claimedBy: text('claimed_by'),
    claimToken: text('claim_token'),
    claimExpiresAt: timestamp('claim_expires_at', { withTimezone: true }),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    startedAt: timestamp('started_at', { withTimezone: true }),
    completedAt: timestamp('completed_at', { withTimezone: true }),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    index('audiobook_jobs_owner_created_idx').on(t.ownerId, t.createdAt),
    index('audiobook_jobs_status_idx').on(t.status),
  ],
)

/** The chapters of a job, in upload order (`index` from 1). Times and sizes are set when the job completes. */
export const audiobookChapters = pgTable(
  'audiobook_chapters',
  {
    jobId: uuid('job_id')
      .notNull()
      .references(() => audiobookJobs.id, { onDelete: 'cascade' }),
    index: integer('index').notNull(),
    title: text('title').notNull(),
    /** The uploaded file's name, for messages only. */
    sourceName: text('source_name').notNull(),
    /** The uploaded file's container as FFmpeg named it (e.g. `wav`), once probed. */
    sourceFormat: text('source_format'),
    fileKey: text('file_key'),
    fileSize: bigint('file_size', { mode: 'number' }),
    /** Seconds from the start of the book. */
    start: doublePrecision('start'),
    end: doublePrecision('end'),
    duration: doublePrecision('duration'),
  },
  (t) => [primaryKey({ columns: [t.jobId, t.index] })],
)

/** Where a user is in a job: one row per user and job, shared by all their devices. */
export const audiobookProgress = pgTable(
  'audiobook_progress',
  {
    userId: text('user_id').notNull(),
    jobId: uuid('job_id')
      .notNull()
      .references(() => audiobookJobs.id, { onDelete: 'cascade' }),
    /** Seconds from the start of the book. */
    position: doublePrecision('position').notNull(),
    chapter: integer('chapter'),
    /** Bumped by every accepted write; a writer proves it saw the latest position by sending it back. */
    version: integer('version').notNull(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.userId, t.jobId] })],
)
