import { bigint, index, pgTable, serial, text, timestamp } from 'drizzle-orm/pg-core'

/** Collector ingest keys. Only a SHA-256 hash is stored; the key itself is shown once at creation. */
export const apiKeys = pgTable(
  'api_keys',
  {
    id: serial('id').primaryKey(),
    name: text('name').notNull().unique(),
    keyHash: text('key_hash').notNull().unique(),
    /** First characters of the key, so an operator can tell keys apart in `keys list`. */
    prefix: text('prefix').notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    lastUsedAt: timestamp('last_used_at', { withTimezone: true }),
    revokedAt: timestamp('revoked_at', { withTimezone: true }),
    /** Scanner systems this key may upload calls for; null: any. */
    systems: bigint('systems', { mode: 'number' }).array(),
    /** Talkgroups this key may upload calls for; null: any. */
    talkgroups: bigint('talkgroups', { mode: 'number' }).array(),
    /** The OpenMHz short name (`/openmhz/:shortName/upload`) that stands for this key's one system. */
    openmhzShortName: text('openmhz_short_name').unique(),
  },
  (t) => [index('api_keys_revoked_idx').on(t.revokedAt)],
)
