/**
 * The server's CORS policy, defined once: `corsPlugin` applies it to every Elysia route (through @elysiajs/cors,
 * which also answers preflights), and `corsHeaders` gives the same headers to routes Bun's router serves directly
 * (src/http/native-route.ts). test/http/cors.test.ts holds the two to the same answers.
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
 * Adds to `into` exactly the headers `corsPlugin` gives an actual (non-OPTIONS) request: the allowed origin and
 * `Vary`, the request's method and header names reflected (the plugin's `methods: true`, `allowedHeaders: true`),
 * the exposed headers and, with a list of origins, `Access-Control-Allow-Credentials`.
 */
export function corsHeaders(policy: CorsPolicy, request: Request, into: Record<string, string>): void {
  into['access-control-expose-headers'] = policy.exposeHeaders
  if (policy.credentials) into['access-control-allow-credentials'] = 'true'
  const { origin } = policy
  if (origin === true) {
    into.vary = '*'
    into['access-control-allow-origin'] = request.headers.get('origin') || '*'
  } else if (origin.length > 0) {
    const from = request.headers.get('origin') ?? ''
    if (origin.some((allowed) => originMatches(allowed, from))) {
      into.vary = 'Origin'
      into['access-control-allow-origin'] = from || '*'
    } else {
      into.vary = 'Origin'
    }
  }
  into['access-control-allow-methods'] = request.method
  into['access-control-allow-headers'] = headerNames(request.headers)
}

/** The plugin's test: the Origin exactly, or an allowed entry written without its scheme (`app.example`). */
function originMatches(allowed: string, from: string): boolean {
  if (allowed === from) return true
  const scheme = from.indexOf('://')
  return allowed === (scheme === -1 ? from : from.slice(scheme + 3))
}

/** The request's header names, lower case, in Bun's order, as the plugin lists them. */
function headerNames(headers: Headers): string {
  return Object.keys(headers.toJSON()).join(', ')
}
