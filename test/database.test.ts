import { describe, expect, test } from 'bun:test'
import { sql } from 'drizzle-orm'
import { testDatabases } from './support/databases.ts'

for (const target of testDatabases()) {
  describe(`database (${target.name})`, () => {
    test('migrations create every table', async () => {
      const database = await target.open()
      try {
        const result = await database.db.execute(
          sql`select table_name from information_schema.tables where table_schema = 'public' order by table_name`,
        )
        const rows = (Array.isArray(result) ? result : (result as { rows: unknown[] }).rows) as Array<{
          table_name: string
        }>
        expect(rows.map((r) => r.table_name)).toContain('api_keys')
        await database.ping()
      } finally {
        await database.close()
      }
    })
  })
}
