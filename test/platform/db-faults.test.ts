/**
 * What database errors mean for a request (src/platform/db/faults.ts), with the errors PGlite and postgres.js really
 * raise, and how the one error mapper answers them.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { eq, sql } from 'drizzle-orm'
import { mapError } from '../../src/http/error-handler.ts'
import { databaseFault, outageUnlessInvalidValue } from '../../src/platform/db/faults.ts'
import type { Database } from '../../src/platform/db/index.ts'
import { ServiceUnavailableError } from '../../src/platform/errors.ts'
import { radioTransmissions } from '../../src/radio/schema.ts'
import { testDatabases } from '../support/databases.ts'

async function errorOf(run: () => Promise<unknown>): Promise<unknown> {
  try {
    await run()
  } catch (error) {
    return error
  }
  throw new Error('the query did not fail')
}

for (const testDatabase of testDatabases()) {
  describe(`database faults, ${testDatabase.name}`, () => {
    let database: Database
    beforeAll(async () => {
      database = await testDatabase.open()
    })
    afterAll(async () => {
      await database.close()
    })

    test.each([
      ['a NUL byte (22021)', "select convert_from('\\x00'::bytea, 'UTF8')"],
      ['an integer out of range (22003)', 'select 2147483648::int4'],
      ['a malformed date (22007)', "select 'not a date'::timestamptz"],
      ['division by zero (22012)', 'select 1 / 0'],
    ])('%s is the request’s fault: 400 INVALID_VALUE', async (_name, query) => {
      const error = await errorOf(() => database.db.execute(sql.raw(query)))
      expect(databaseFault(error)).toBe('invalid-value')
      expect(mapError(error, 'UNKNOWN')).toMatchObject({ status: 400, code: 'INVALID_VALUE' })
      expect(outageUnlessInvalidValue(error, () => new ServiceUnavailableError('down'))).toBe(error)
    })

    test('a NUL byte bound as a parameter, as the issue’s route sent it', async () => {
      const error = await errorOf(() =>
        database.db
          .select()
          .from(radioTransmissions)
          .where(eq(radioTransmissions.transmissionId, 'a\u0000b')),
      )
      expect(databaseFault(error)).toBe('invalid-value')
    })

    test('other SQL errors are not classified: a 500', async () => {
      const error = await errorOf(() => database.db.execute(sql.raw('select * from no_such_table')))
      expect(databaseFault(error)).toBeUndefined()
      expect(mapError(error, 'UNKNOWN')).toMatchObject({ status: 500, code: 'INTERNAL' })
      expect(outageUnlessInvalidValue(error, () => new ServiceUnavailableError('down'))).toBeInstanceOf(
        ServiceUnavailableError,
      )
    })
  })
}

describe('connection failures are outages: 503 DATABASE_UNAVAILABLE', () => {
  test.each([
    [
      'postgres.js, connection lost',
      Object.assign(new Error('write CONNECTION_CLOSED'), { code: 'CONNECTION_CLOSED' }),
    ],
    ['postgres.js, refused', Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })],
    [
      'PostgreSQL shutting down (57P01)',
      Object.assign(new Error('terminating connection'), { code: '57P01' }),
    ],
    ['too many connections (53300)', Object.assign(new Error('too many clients'), { code: '53300' })],
    ['PGlite closed', new Error('PGlite is closed')],
    [
      'wrapped by drizzle',
      new Error('Failed query: select 1', { cause: Object.assign(new Error('x'), { code: '08006' }) }),
    ],
  ])('%s', (_name, error) => {
    expect(databaseFault(error)).toBe('unavailable')
    expect(mapError(error, 'UNKNOWN')).toMatchObject({ status: 503, code: 'DATABASE_UNAVAILABLE' })
  })
})
