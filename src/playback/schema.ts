import { boolean, doublePrecision, pgTable, text, timestamp } from 'drizzle-orm/pg-core'

/**
 * Each user's playback session as last saved (one row per user; a user who never played has none). While
 * `is_playing`, the listener is at `position + (now − updated_at)`, so a restored session carries on.
 */
export const playbackSessions = pgTable('playback_sessions', {
  /** The JWT subject. */
  userId: text('user_id').primaryKey(),
  trackId: text('track_id').notNull(),
  /** Seconds into the track at `updated_at`. */
  position: doublePrecision('position').notNull(),
  /** The track's length in seconds (0 when unknown): extrapolation stops there. */
  duration: doublePrecision('duration').notNull(),
  isPlaying: boolean('is_playing').notNull(),
  /** When the change happened; a write older than the row is ignored. */
  updatedAt: timestamp('updated_at', { withTimezone: true, precision: 3 }).notNull(),
  /** The device that made the change. */
  deviceId: text('device_id').notNull(),
})
