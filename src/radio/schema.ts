import {
  bigint,
  boolean,
  doublePrecision,
  index,
  integer,
  jsonb,
  pgTable,
  real,
  text,
  timestamp,
} from 'drizzle-orm/pg-core'
import type { CallDetails, CallSource } from '../calls/model.ts'

/**
 * One row per ended transmission, saved or not (CONTRACT "Radio": history): a DMR slot's transmission (`slot` set)
 * or a scanner call uploaded by trunk-recorder, SDRTrunk or an OpenMHz uploader (`system_id` set, `slot` null).
 */
export const radioTransmissions = pgTable(
  'radio_transmissions',
  {
    transmissionId: text('transmission_id').primaryKey(),
    slot: integer('slot'),
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
    /** Scanner calls: the trunked system the call was on. */
    systemId: bigint('system_id', { mode: 'number' }),
    systemLabel: text('system_label'),
    talkgroupLabel: text('talkgroup_label'),
    talkgroupTag: text('talkgroup_tag'),
    talkgroupGroup: text('talkgroup_group'),
    /** Hz. */
    frequency: doublePrecision('frequency'),
    emergency: boolean('emergency').notNull().default(false),
    /** Units heard in the call (`[{pos, src, tag?}]`), searched with `@>`. */
    sources: jsonb('sources').$type<CallSource[]>(),
    /** The rest of what the uploader sent (frequencies, patches, talkgroup name, audio name). */
    call: jsonb('call').$type<CallDetails>(),
  },
  (t) => [
    index('radio_transmissions_started_idx').on(t.startedAt),
    index('radio_transmissions_slot_started_idx').on(t.slot, t.startedAt),
    index('radio_transmissions_radio_idx').on(t.radioId),
    index('radio_transmissions_talkgroup_idx').on(t.talkgroupId),
    index('radio_transmissions_system_talkgroup_started_idx').on(t.systemId, t.talkgroupId, t.startedAt),
  ],
)
