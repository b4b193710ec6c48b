import { Elysia } from 'elysia'
import { log } from '../platform/log.ts'
import { metrics } from '../platform/metrics.ts'

const REQUEST_ID = /^[A-Za-z0-9._-]{1,128}$/

/** Gives every request an id (kept from `x-request-id` when sane), echoes it, logs one line and counts it. */
export const requestLog = new Elysia({ name: 'request-log' })
  .derive({ as: 'global' }, ({ request, set }) => {
    const given = request.headers.get('x-request-id')
    const requestId = given && REQUEST_ID.test(given) ? given : crypto.randomUUID()
    set.headers['x-request-id'] = requestId
    return { requestId, requestStartedAt: performance.now() }
  })
  .onAfterResponse({ as: 'global' }, (ctx) => {
    const { request, set, path } = ctx
    const route = (ctx as { route?: string }).route ?? 'unmatched'
    const { requestId, requestStartedAt, responseValue } = ctx as unknown as {
      requestId?: string
      requestStartedAt?: number
      responseValue?: unknown
    }
    // A handler that returns its own Response (a 206 with a file body) carries its status there, not in `set`.
    const status =
      responseValue instanceof Response
        ? responseValue.status
        : typeof set.status === 'number'
          ? set.status
          : 200
    const seconds = requestStartedAt === undefined ? 0 : (performance.now() - requestStartedAt) / 1000
    metrics.httpRequests.inc({ method: request.method, route, status: String(status) })
    metrics.httpDuration.observe({ method: request.method, route }, seconds)
    log.info({ requestId, method: request.method, path, status, ms: Math.round(seconds * 1000) }, 'request')
  })
