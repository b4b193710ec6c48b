/**
 * Routes Bun's own router serves directly (Elysia's `serve.routes`), outside Elysia's per-request pipeline, for
 * the few hot routes where that pipeline costs as much as the work itself (track streaming: see README, "Track
 * library"). Such a route does what the app's hooks do for every other route, with the very functions they use:
 * the input guard (`guardRequest`), the request id (`requestIdOf`), CORS (`corsFixedHeaders`, `allowOrigin`), the
 * error shapes (`errorResponse`) and the metrics and log line (`recordRequest`). Anything it does not take (another method, an odd path) goes to
 * Elysia as before.
 *
 * A route's headers come in two parts, because building a response's headers from a plain object costs about
 * 0.2 µs a header: `fixedHeaders`, the same object on every call (the route's own and the CORS headers no request
 * changes), which the handler may build into a kept header set once (see `rangeResponse`), and `headers`, this
 * request's (its id, the allowed origin).
 */
import type { BunRequest } from 'bun'
import { allowOrigin, type CorsPolicy, corsFixedHeaders } from './cors.ts'
import { errorResponse } from './error-handler.ts'
import { guardRequest } from './input-guard.ts'
import { recordRequest, requestIdOf } from './request-log.ts'

export type Fetch = (request: Request) => Response | Promise<Response>

export interface NativeRouteOptions {
  /** The route pattern, as Elysia registers it: the `route` label of the HTTP metrics. */
  route: string
  cors: CorsPolicy
  /** The route's own headers for every answer, e.g. Cache-Control (the CORS ones are added). */
  fixedHeaders?: Record<string, string>
  /** Whether Elysia should answer this request instead (a case the route leaves to Elysia's validation). */
  passOn?: (request: BunRequest) => boolean
  /** Elysia's own `fetch`, for the requests passed on. */
  elysia: Fetch
  /**
   * The answer, whose Response must already carry `fixedHeaders` (the same object on every call) and `headers`
   * (this request's: its id, CORS); at once when it can be (Bun answers a returned Response sooner than a
   * promise). A thrown or rejected error becomes the usual error response, with `headers` and the CORS ones.
   */
  handle(
    request: BunRequest,
    headers: Record<string, string>,
    fixedHeaders: Readonly<Record<string, string>>,
  ): Response | Promise<Response>
}

/** A Bun route handler doing the work of `handle` plus everything the app's global hooks do. */
export function nativeRoute(
  options: NativeRouteOptions,
): (request: BunRequest) => Response | Promise<Response> {
  const { route, cors, passOn, elysia, handle } = options
  const corsFixed = corsFixedHeaders(cors)
  const fixedHeaders: Readonly<Record<string, string>> = { ...options.fixedHeaders, ...corsFixed }
  return (request) => {
    if (passOn?.(request)) return elysia(request)
    const startedAt = performance.now()
    const requestId = requestIdOf(request)
    const headers: Record<string, string> = { 'x-request-id': requestId }
    // Checked before anything reads the request: a refused Origin is never reflected (as Elysia's onRequest order has it).
    const refusal = guardRefusal(request)
    const origin = refusal === undefined ? allowOrigin(cors, request) : undefined
    if (origin !== undefined) headers['access-control-allow-origin'] = origin
    const answered = (response: Response) => {
      recordRequest({
        requestId,
        method: request.method,
        path: pathOf(request.url),
        route,
        status: response.status,
        startedAt,
      })
      return response
    }
    const failed = (error: unknown) =>
      answered(
        errorResponse(error, 'UNKNOWN', request.method, pathOf(request.url), { ...corsFixed, ...headers }),
      )
    if (refusal !== undefined) return failed(refusal)
    let response: Response | Promise<Response>
    try {
      response = handle(request, headers, fixedHeaders)
    } catch (error) {
      return failed(error)
    }
    return response instanceof Promise ? response.then(answered, failed) : answered(response)
  }
}

/** What `guardRequest` throws for `request`, or undefined when it passes. */
function guardRefusal(request: Request): unknown {
  try {
    guardRequest(request)
    return undefined
  } catch (error) {
    return error
  }
}

/** The URL's path without the query, found the way Elysia finds `path` (the scheme and host hold no `/`). */
export function pathOf(url: string): string {
  const start = url.indexOf('/', 11)
  const query = url.indexOf('?', start + 1)
  return query === -1 ? url.substring(start) : url.substring(start, query)
}
