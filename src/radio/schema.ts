import { bigint, index, integer, pgTable, real, text, timestamp } from 'drizzle-orm/pg-core'

/** One row per ended transmission, saved or not (CONTRACT "Radio": history). */
export const radioTransmissions = pgTable(
  'radio_transmissions',
  {
    transmissionId: text('transmission_id').primaryKey(),
    slot: integer('slot').notNull(),
    radioId: bigint('radio_id', { mode: 'number' }).notNull(),
    talkgroupId: bigint('talkgroup_id', { mode: 'number' }).notNull(),
    startedAt: timestamp('started_at', { withTimezone: true, precision: 3 }).notNull(),
    endedAt: timestamp('ended_at', { withTimezone: true, precision: 3 }).notNull(),
    /** Seconds of audio (sum of the chunks' Opus durations). */
    duration: real('duration').notNull(),
    chunkCount: integer('chunk_count').notNull(),
    /** Blob key of the Ogg Opus recording when the transmission was saved. */
    recordingKey: text('recording_key'),
    recordingBytes: integer('recording_bytes'),
  },
  (t) => [
    index('radio_transmissions_started_idx').on(t.startedAt),
    index('radio_transmissions_slot_started_idx').on(t.slot, t.startedAt),
    index('radio_transmissions_radio_idx').on(t.radioId),
    index('radio_transmissions_talkgroup_idx').on(t.talkgroupId),
  ],
)
