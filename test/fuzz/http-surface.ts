/**
 * The HTTP surface: a generated request for any documented route (hostile path ids, query strings, headers and
 * bodies), how it is sent, and what its answer must satisfy.
 */
import fc from 'fast-check'
import { errorShapeOf } from '../../src/http/error-handler.ts'
import {
  type Body,
  contentTypeHeader,
  fromSchema,
  hostileHeaderText,
  ifRangeHeader,
  jsonBody,
  multipartBody,
  plausibleValue,
  queryString,
  rangeHeader,
  urlComponent,
} from './hostile.ts'
import { type DocumentedRoute, routeName } from './openapi-routes.ts'

/** Credentials the fuzzer may present; none of them is the victim's. */
export interface Credentials {
  /** A valid JWT of the attacking user. */
  user: string
  /** A valid JWT with role admin (another subject, not the victim). */
  admin: string
  /** A collector ingest key the server accepts. */
  ingestKey: string
  expired: string
  /** Signed with another secret. */
  forged: string
}

export interface FuzzTarget {
  baseUrl: string
  routes: DocumentedRoute[]
  /** Ids worth aiming at: the victim's, the attacker's, library tracks, plausible names. */
  ids: string[]
  credentials: Credentials
}

export interface HttpCase {
  /** `GET /api/v1/jobs/{id}`: the documented route the request was made for. */
  route: string
  method: string
  /** Path and query as sent (percent-encoded, rightly or not). */
  target: string
  headers: Record<string, string>
  body?: Body
}

export interface HttpAnswer {
  status: number
  contentType: string
  /** The body (empty for HEAD and for event streams, which are cancelled once their headers arrive). */
  text: string
}

const OTHER_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const
/** Longest a fuzzed request may take; a request still unanswered then is a failure (a hang). */
export const REQUEST_TIMEOUT_MS = 5_000

function authorization(credentials: Credentials): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 4, arbitrary: fc.constant(`Bearer ${credentials.user}`) },
    { weight: 2, arbitrary: fc.constant(`Bearer ${credentials.admin}`) },
    { weight: 1, arbitrary: fc.constant(`Bearer ${credentials.ingestKey}`) },
    {
      weight: 1,
      arbitrary: fc.constantFrom(
        `Bearer ${credentials.expired}`,
        `Bearer ${credentials.forged}`,
        'Bearer',
        'Basic eDp5',
      ),
    },
    { weight: 1, arbitrary: hostileHeaderText.map((text) => `Bearer ${text}`) },
    { weight: 1, arbitrary: hostileHeaderText },
  )
}

function headers(credentials: Credentials): fc.Arbitrary<Record<string, string>> {
  return fc.record(
    {
      authorization: authorization(credentials),
      range: rangeHeader,
      'if-range': ifRangeHeader,
      'content-type': contentTypeHeader,
      'if-none-match': fc.oneof(ifRangeHeader, fc.constant('*')),
      'if-modified-since': fc.oneof(
        ifRangeHeader,
        fc.date({ noInvalidDate: true }).map((d) => d.toUTCString()),
      ),
      'last-event-id': fc.oneof(fc.nat().map(String), hostileHeaderText),
      'x-request-id': hostileHeaderText,
      origin: fc.oneof(fc.constant('http://localhost:3000'), hostileHeaderText),
    },
    { requiredKeys: [] },
  )
}

/** The query token variant: `?token=` instead of the header, as `<audio src>` and EventSource send it. */
function tokenQuery(credentials: Credentials): fc.Arbitrary<string> {
  return fc.oneof(
    fc.constant(''),
    fc.constant(`token=${credentials.user}`),
    fc.constant(`token=${credentials.admin}`),
    urlComponent(fc.constant(credentials.forged)).map((t) => `token=${t}`),
  )
}

function caseFor(target: FuzzTarget, route: DocumentedRoute): fc.Arbitrary<HttpCase> {
  const id = fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom(...target.ids) },
    { weight: 1, arbitrary: fc.uuid() },
    { weight: 1, arbitrary: plausibleValue },
  )
  const segments = route.template
    .split('/')
    .map((part) => (/^\{[^}]+\}$|^\*$/.test(part) ? urlComponent(id) : fc.constant(part)))
  const method = fc.oneof(
    { weight: 9, arbitrary: fc.constant(route.method) },
    { weight: 1, arbitrary: fc.constantFrom(...OTHER_METHODS) },
  )
  const body = fc.oneof(
    { weight: 5, arbitrary: jsonBody(fromSchema(route.body)) },
    { weight: 2, arbitrary: multipartBody },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 512 }).map((bytes): Body => ({ bytes })) },
  )
  return fc
    .record({
      method,
      path: fc.tuple(...segments).map((parts) => parts.join('/')),
      query: queryString(route.query, plausibleValue),
      token: tokenQuery(target.credentials),
      headers: headers(target.credentials),
      body: fc.option(body, { freq: 4 }),
      /** Whether the body's own Content-Type is sent, rather than the generated (often broken) one. */
      ownType: fc.oneof(
        { weight: 3, arbitrary: fc.constant(true) },
        { weight: 1, arbitrary: fc.constant(false) },
      ),
    })
    .map(({ method, path, query, token, headers, body, ownType }) => {
      const search = [query, token].filter((part) => part !== '').join('&')
      // fetch sends no body with GET, HEAD or TRACE.
      const sendsBody = body !== null && !['GET', 'HEAD', 'TRACE'].includes(method)
      const withType =
        sendsBody && ownType && body.contentType !== undefined
          ? { ...headers, 'content-type': body.contentType }
          : headers
      return {
        route: routeName(route),
        method,
        target: search === '' ? path : `${path}?${search}`,
        headers: withType,
        ...(sendsBody ? { body } : {}),
      }
    })
}

/** A request for one of the documented routes, each route equally likely. */
export function httpCase(target: FuzzTarget): fc.Arbitrary<HttpCase> {
  return fc.oneof(...target.routes.map((route) => caseFor(target, route)))
}

/** Headers fetch refuses to send are left out (the server never sees them either). */
function sendableHeaders(wanted: Record<string, string>): Headers {
  const sendable = new Headers()
  for (const [name, value] of Object.entries(wanted)) {
    try {
      sendable.set(name, value)
    } catch {
      // Not a valid header value for the client: nothing to send.
    }
  }
  return sendable
}

export async function sendHttp(baseUrl: string, request: HttpCase): Promise<HttpAnswer> {
  const response = await fetch(`${baseUrl}${request.target}`, {
    method: request.method,
    headers: sendableHeaders(request.headers),
    body: request.body?.bytes,
    redirect: 'manual',
    decompress: false,
    signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
  })
  const contentType = response.headers.get('content-type') ?? ''
  if (contentType.startsWith('text/event-stream')) {
    await response.body?.cancel()
    return { status: response.status, contentType, text: '' }
  }
  return { status: response.status, contentType, text: await response.text() }
}

/** What is wrong with `answer` to `request` (empty when nothing is). */
export function httpViolations(request: HttpCase, answer: HttpAnswer): string[] {
  const problems: string[] = []
  if (answer.status >= 500) problems.push(`answered ${answer.status}: ${answer.text.slice(0, 300)}`)
  // Answers to HEAD carry no body, and Bun sends none for TRACE either.
  const bodiless = request.method === 'HEAD' || request.method === 'TRACE'
  if (answer.status >= 400 && answer.contentType.includes('json') && !bodiless) {
    let body: Record<string, unknown> | undefined
    try {
      body = JSON.parse(answer.text) as Record<string, unknown>
    } catch {
      problems.push(`a ${answer.status} whose JSON body does not parse: ${answer.text.slice(0, 200)}`)
    }
    if (body) {
      // The shape the server's one error mapper uses for the path it saw (the client resolves `%2e%2e` and `..` first);
      // a JSON error body in another shape was made somewhere else.
      const shape = errorShapeOf(new URL(request.target, 'http://server').pathname)
      const shaped =
        shape === 'radio'
          ? body.success === false && typeof body.error === 'string'
          : body.status === 'error' && typeof body.message === 'string'
      if (!shaped)
        problems.push(`a ${answer.status} not in the ${shape} error shape: ${answer.text.slice(0, 200)}`)
    }
  }
  return problems
}
