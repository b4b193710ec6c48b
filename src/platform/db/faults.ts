/**
 * What a database error means for the request that met it, whichever driver raised it (postgres.js or PGlite; drizzle
 * wraps both in a DrizzleQueryError whose `cause` is the driver's error):
 * - `invalid-value`: PostgreSQL refused a value the request carried (SQLSTATE class 22, data exception: a NUL byte,
 *   an out-of-range number, a malformed date). The request is at fault: a 400, never an outage.
 * - `unavailable`: the database cannot be reached or is shutting down. A 503: retrying later may work.
 * Anything else is not classified (a bug: a 500).
 */
export type DatabaseFault = 'invalid-value' | 'unavailable'

/** postgres.js's own codes for a connection that could not be made or was lost. */
const DRIVER_CONNECTION_CODES = new Set([
  'CONNECTION_CLOSED',
  'CONNECTION_ENDED',
  'CONNECTION_DESTROYED',
  'CONNECT_TIMEOUT',
])
/** SQLSTATE class 08 (connection exception), 57P01–57P03 (shutting down, cannot connect now), 53300 (too many connections). */
const UNAVAILABLE_SQLSTATE = /^(08...|57P0[123]|53300)$/
/** Node-style socket errors: ECONNREFUSED, ECONNRESET, ETIMEDOUT, EPIPE, ENOTFOUND, EHOSTUNREACH, … */
const SOCKET_ERROR = /^E[A-Z]+$/
/** PGlite's error once its instance is closed. */
const PGLITE_CLOSED = 'PGlite is closed'

const MAX_CAUSE_DEPTH = 5

/** The classification of `error` (or of an error in its `cause` chain), or undefined. */
export function databaseFault(error: unknown): DatabaseFault | undefined {
  let current: unknown = error
  for (let depth = 0; depth < MAX_CAUSE_DEPTH && typeof current === 'object' && current !== null; depth++) {
    const { code, message, cause } = current as { code?: unknown; message?: unknown; cause?: unknown }
    if (typeof code === 'string') {
      if (code.startsWith('22') && code.length === 5) return 'invalid-value'
      if (UNAVAILABLE_SQLSTATE.test(code) || DRIVER_CONNECTION_CODES.has(code) || SOCKET_ERROR.test(code))
        return 'unavailable'
    }
    if (typeof message === 'string' && message.includes(PGLITE_CLOSED)) return 'unavailable'
    current = cause
  }
  return undefined
}

/**
 * For code that reports a failed database call as its own outage (a 503 with its code): what to throw. The original
 * error when the request's value was at fault (the error mapper makes that a 400, never "unavailable"), else
 * `outage()`.
 */
export function outageUnlessInvalidValue(error: unknown, outage: () => Error): unknown {
  return databaseFault(error) === 'invalid-value' ? error : outage()
}
