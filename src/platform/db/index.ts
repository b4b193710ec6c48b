import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { PGlite } from '@electric-sql/pglite'
import { sql } from 'drizzle-orm'
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core'
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite'
import { migrate as migratePglite } from 'drizzle-orm/pglite/migrator'
import { drizzle as drizzlePostgres } from 'drizzle-orm/postgres-js'
import { migrate as migratePostgres } from 'drizzle-orm/postgres-js/migrator'
import postgres from 'postgres'
import * as schema from './schema.ts'

export type Schema = typeof schema
/** The common face of the PGlite and postgres.js drizzle databases. */
export type Db = PgDatabase<PgQueryResultHKT, Schema>

export interface Database {
  db: Db
  /** `pglite` (embedded) or `postgres`. */
  kind: 'pglite' | 'postgres'
  /** Where the data lives, without credentials: shown at startup. */
  description: string
  ping(): Promise<void>
  close(): Promise<void>
}

export const MIGRATIONS_DIR = join(import.meta.dir, '../../../drizzle')

export class DatabaseUnreachableError extends Error {
  override name = 'DatabaseUnreachableError'
}

/** Opens PostgreSQL when `databaseUrl` is set, else embedded PGlite (in memory when `pgliteDir` is undefined), and applies migrations. */
export async function openDatabase(options: { databaseUrl?: string; pgliteDir?: string }): Promise<Database> {
  const database = options.databaseUrl
    ? await openPostgres(options.databaseUrl)
    : await openPglite(options.pgliteDir)
  return database
}

async function openPglite(dir: string | undefined): Promise<Database> {
  if (dir) mkdirSync(dir, { recursive: true })
  const client = dir ? new PGlite(dir) : new PGlite()
  const db = drizzlePglite(client, { schema }) as unknown as Db
  await migratePglite(drizzlePglite(client), { migrationsFolder: MIGRATIONS_DIR })
  return {
    db,
    kind: 'pglite',
    description: dir ? `PGlite at ${dir}` : 'PGlite in memory',
    ping: async () => {
      await client.query('select 1')
    },
    close: () => client.close(),
  }
}

/** Any fixed number: the advisory lock instances sharing one database take around their migrations. */
const MIGRATION_LOCK = 0x41697277

/**
 * Runs `migrate` while holding a session advisory lock, so cluster instances started together on a fresh database
 * apply the migrations one after the other (the later ones find nothing left to do) instead of racing.
 */
async function migrateAlone(client: postgres.Sql, migrate: () => Promise<void>): Promise<void> {
  const session = await client.reserve()
  try {
    await session`select pg_advisory_lock(${MIGRATION_LOCK})`
    await migrate()
  } finally {
    await session`select pg_advisory_unlock(${MIGRATION_LOCK})`.catch(() => {})
    session.release()
  }
}

function redactUrl(url: string): string {
  const u = new URL(url)
  if (u.password) u.password = '***'
  return u.toString()
}

async function openPostgres(url: string): Promise<Database> {
  // postgres.js on Bun has reports of idle hangs: bound idle and connection lifetimes.
  const client = postgres(url, {
    max: 10,
    idle_timeout: 20,
    max_lifetime: 60 * 30,
    connect_timeout: 5,
    onnotice: () => {},
  })
  try {
    await client`select 1`
  } catch (err) {
    await client.end({ timeout: 1 }).catch(() => {})
    throw new DatabaseUnreachableError(
      `DATABASE_URL ${redactUrl(url)} is unreachable (${(err as Error).message}): start PostgreSQL or fix the URL`,
    )
  }
  const db = drizzlePostgres(client, { schema }) as unknown as Db
  await migrateAlone(client, () =>
    migratePostgres(drizzlePostgres(client), { migrationsFolder: MIGRATIONS_DIR }),
  )
  return {
    db,
    kind: 'postgres',
    description: `PostgreSQL at ${redactUrl(url)}`,
    ping: async () => {
      await db.execute(sql`select 1`)
    },
    close: () => client.end({ timeout: 5 }),
  }
}
