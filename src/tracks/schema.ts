import { bigint, doublePrecision, index, integer, pgTable, text, timestamp } from 'drizzle-orm/pg-core'

/**
 * Tracks users uploaded (POST /api/tracks). The file lives at `DATA_DIR/uploads/tracks/<id>` on the instance that
 * took the upload; its metadata is read once, at upload time, and kept here.
 */
export const trackUploads = pgTable(
  'track_uploads',
  {
    /** 16 random hex digits, the same shape as a library track's id. */
    id: text('id').primaryKey(),
    /** The JWT subject that uploaded it: the only user who sees it. */
    ownerId: text('owner_id').notNull(),
    /** The client's file name, for fallback titles only. */
    fileName: text('file_name').notNull(),
    title: text('title').notNull(),
    artist: text('artist').notNull(),
    album: text('album'),
    duration: doublePrecision('duration').notNull(),
    bitrate: integer('bitrate').notNull(),
    format: text('format').notNull(),
    codec: text('codec'),
    mimeType: text('mime_type').notNull(),
    size: bigint('size', { mode: 'number' }).notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [index('track_uploads_owner_created_idx').on(t.ownerId, t.createdAt)],
)
