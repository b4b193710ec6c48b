import postgres from 'postgres'
import { type Database, openDatabase } from '../../src/platform/db/index.ts'

export interface TestDatabase {
  name: 'pglite' | 'postgres'
  /** A fresh, migrated, empty database. */
  open(): Promise<Database>
}

/** Creates an empty PostgreSQL database on the server at `baseUrl`; `drop()` removes it. */
export async function createPostgresDatabase(
  baseUrl: string,
): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `airwave_test_${Date.now()}_${Math.random().toString(36).slice(2, 8)}`
  const admin = postgres(baseUrl, { max: 1, onnotice: () => {} })
  await admin.unsafe(`create database ${name}`)
  const url = new URL(baseUrl)
  url.pathname = `/${name}`
  return {
    url: url.toString(),
    drop: async () => {
      await admin.unsafe(`drop database if exists ${name} with (force)`)
      await admin.end()
    },
  }
}

/** A fresh migrated database on the TEST_DATABASE_URL server, dropped when it closes. */
async function freshPostgres(baseUrl: string): Promise<Database> {
  const created = await createPostgresDatabase(baseUrl)
  const database = await openDatabase({ databaseUrl: created.url })
  return {
    ...database,
    close: async () => {
      await database.close()
      await created.drop()
    },
  }
}

/** PGlite always; PostgreSQL too when TEST_DATABASE_URL is set (CI sets it). */
export function testDatabases(): TestDatabase[] {
  const list: TestDatabase[] = [{ name: 'pglite', open: () => openDatabase({}) }]
  const url = process.env.TEST_DATABASE_URL
  if (url) list.push({ name: 'postgres', open: () => freshPostgres(url) })
  return list
}
