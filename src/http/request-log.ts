import { Elysia } from 'elysia'
import { log } from '../platform/log.ts'
import { metrics } from '../platform/metrics.ts'

const REQUEST_ID = /^[A-Za-z0-9._-]{1,128}$/

/** The request's id: its own `x-request-id` when sane, otherwise a fresh UUID. */
export function requestIdOf(request: Request): string {
  const given = request.headers.get('x-request-id')
  return given && REQUEST_ID.test(given) ? given : crypto.randomUUID()
}

export interface AnsweredRequest {
  requestId: string | undefined
  method: string
  /** The URL path without the query, as logged. */
  path: string
  /** The route pattern, e.g. `/api/stream/:trackId` (metrics label), or `unmatched`. */
  route: string
  status: number
  /** `performance.now()` when the request came in. */
  startedAt: number | undefined
}

/** Counts an answered request in the HTTP metrics and logs its one line. Every route ends here. */
export function recordRequest({ requestId, method, path, route, status, startedAt }: AnsweredRequest): void {
  const seconds = startedAt === undefined ? 0 : (performance.now() - startedAt) / 1000
  metrics.httpRequests.inc({ method, route, status: String(status) })
  metrics.httpDuration.observe({ method, route }, seconds)
  log.info({ requestId, method, path, status, ms: Math.round(seconds * 1000) }, 'request')
}

/**
 * Gives every request an id (kept from `x-request-id` when sane), echoes it, logs one line and counts it.
 * Routes served outside Elysia (src/http/native-route.ts) do the same with `requestIdOf` and `recordRequest`.
 */
export const requestLog = new Elysia({ name: 'request-log' })
  .derive({ as: 'global' }, ({ request, set }) => {
    const requestId = requestIdOf(request)
    set.headers['x-request-id'] = requestId
    return { requestId, requestStartedAt: performance.now() }
  })
  .onAfterResponse({ as: 'global' }, (ctx) => {
    const { request, set, path } = ctx
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
    recordRequest({
      requestId,
      method: request.method,
      path,
      route: (ctx as { route?: string }).route ?? 'unmatched',
      status,
      startedAt: requestStartedAt,
    })
  })
