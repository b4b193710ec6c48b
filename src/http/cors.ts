/**
 * The server's CORS policy, defined once: `corsPlugin` applies it to every Elysia route (through @elysiajs/cors,
 * which also answers preflights), and `corsFixedHeaders` with `allowOrigin` give the same answers to routes Bun's
 * router serves directly (src/http/native-route.ts). test/http/cors.test.ts holds the two to the same answers.
 */
import { cors } from '@elysiajs/cors'

/** Response headers a page or player on another origin may read. */
const EXPOSE_HEADERS = [
  'Content-Range',
  'Content-Length',
  'Accept-Ranges',
  'ETag',
  'x-request-id',
  'Retry-After',
]

export interface CorsPolicy {
  /** `true`: any origin (echoed back, or `*`); otherwise the allowed origins, e.g. `https://app.example`. */
  readonly origin: true | readonly string[]
  /** Whether credentials may be sent (only with a list of origins). */
  readonly credentials: boolean
  readonly exposeHeaders: string
}

/** The policy for CORS_ORIGIN (`*` or a comma-separated list, see src/config.ts). */
export function corsPolicy(corsOrigins: readonly string[]): CorsPolicy {
  const anyOrigin = corsOrigins.includes('*')
  return {
    origin: anyOrigin ? true : corsOrigins,
    credentials: !anyOrigin,
    exposeHeaders: EXPOSE_HEADERS.join(', '),
  }
}

/** The Elysia plugin: these headers on every answer, and preflight (OPTIONS) answers. */
export function corsPlugin(policy: CorsPolicy) {
  return cors({
    origin: policy.origin === true ? true : [...policy.origin],
    credentials: policy.credentials,
    exposeHeaders: EXPOSE_HEADERS,
  })
}

/**
 * The CORS headers `corsPlugin` gives every actual (non-OPTIONS) response under `policy` whatever the request:
 * the exposed headers, `Vary` and, with a list of origins, `Access-Control-Allow-Credentials`. With
 * `allowOrigin`, what a route Bun serves directly (src/http/native-route.ts) sends for CORS, built once per route.
 * The plugin also reflects the request's method and header names in `Access-Control-Allow-Methods` and
 * `-Headers` on every response; those only mean something on a preflight's answer (Fetch standard, "CORS-preflight
 * fetch"), and preflights (OPTIONS) always go to Elysia, so the direct routes leave them out.
 */
export function corsFixedHeaders(policy: CorsPolicy): Record<string, string> {
  const fixed: Record<string, string> = { 'access-control-expose-headers': policy.exposeHeaders }
  if (policy.credentials) fixed['access-control-allow-credentials'] = 'true'
  if (policy.origin === true) fixed.vary = '*'
  else if (policy.origin.length > 0) fixed.vary = 'Origin'
  return fixed
}

/** The plugin's `Access-Control-Allow-Origin` for `request`: its Origin (or `*`) when allowed, else none. */
export function allowOrigin(policy: CorsPolicy, request: Request): string | undefined {
  const { origin } = policy
  if (origin === true) return request.headers.get('origin') || '*'
  if (origin.length === 0) return undefined
  const from = request.headers.get('origin') ?? ''
  return origin.some((allowed) => originMatches(allowed, from)) ? from || '*' : undefined
}

/** The plugin's test: the Origin exactly, or an allowed entry written without its scheme (`app.example`). */
function originMatches(allowed: string, from: string): boolean {
  if (allowed === from) return true
  const scheme = from.indexOf('://')
  return allowed === (scheme === -1 ? from : from.slice(scheme + 3))
}
