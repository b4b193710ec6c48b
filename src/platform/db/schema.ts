/** Every feature's tables, for drizzle-kit and for typed queries. Add a feature's schema here when it lands. */

export * from '../../audiobooks/schema.ts'
export * from '../../identity/schema.ts'
export * from '../../playback/schema.ts'
export * from '../../radio/schema.ts'
export * from '../../tracks/schema.ts'
