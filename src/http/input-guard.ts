/**
 * The one check every request's input passes before anything reads it: the URL's path and query, the headers
 * routes read, and body strings. Hostile text (a NUL byte, a percent-escape that is not UTF-8, a lone surrogate,
 * U+FFFD standing for bytes that were not UTF-8, control characters, absurd lengths) is refused here with a 4xx,
 * so it never reaches the database (PostgreSQL refuses NUL bytes outright), the blob store or the file system.
 *
 * Used by the app's global hook (`inputGuard`: URL and headers of every request), by the routes Bun serves ahead of
 * Elysia (src/http/native-route.ts), by the body readers routes with `parse: 'none'` use (src/http/json-body.ts,
 * src/http/multipart-upload.ts) and, through `GuardedString`, by the body and realtime message schemas. Each refusal is a typed error; src/http/error-handler.ts gives it the surface's shape.
 */
import { Elysia, t } from 'elysia'
import { FormatRegistry } from 'elysia/type-system'
import { ALL_CONTROLS, ASCII_CONTROLS } from '../platform/control-characters.ts'
import { BadRequestError, NotFoundError } from '../platform/errors.ts'

/** Every bound the guard enforces; routes' own schemas may be stricter (a track id is at most 256 characters). */
export const INPUT_LIMITS = {
  /** The whole request URL, scheme and host included. */
  maxUrlChars: 8192,
  /** One path segment once percent-decoded (a blob key's segment, an actor id, a track id). */
  maxPathSegmentChars: 1024,
  /** Query parameters in one URL. */
  maxQueryParams: 64,
  /** One query parameter's name or value once decoded (a JWT in `?token=` is a few hundred). */
  maxQueryValueChars: 4096,
  /** One of the `GUARDED_HEADERS` (a JWT, a Range of 64 specs). */
  maxHeaderChars: 8192,
  /** Objects and arrays nested in a JSON body (the documented bodies are flat). */
  maxBodyDepth: 32,
} as const

/** The request headers routes read as text: each is checked like a query value. */
export const GUARDED_HEADERS = [
  'authorization',
  'range',
  'if-range',
  'if-none-match',
  'if-modified-since',
  'content-type',
  'last-event-id',
  'x-request-id',
  'origin',
] as const

/**
 * Characters no id, query value or header has a use for: C0 and C1 controls (NUL included), DEL, and U+FFFD, which
 * Bun and the UTF-8 decoders put where the bytes were not UTF-8. Lone surrogates are found by `isWellFormed`.
 */
const FIELD_FORBIDDEN = new RegExp(`[${ALL_CONTROLS}\\ufffd]`)
/** Body text may hold tabs and line breaks (a description); every other ASCII control character is refused. */
const TEXT_FORBIDDEN = new RegExp(`(?![\\t\\n\\r])[${ASCII_CONTROLS}\\ufffd]`)

/** Why a string was refused, for the message; undefined when it is acceptable. */
function textProblem(value: string, forbidden: RegExp): string | undefined {
  if (value.includes('\u0000')) return 'a NUL byte'
  if (!value.isWellFormed()) return 'a lone UTF-16 surrogate'
  if (value.includes('\ufffd')) return 'bytes that are not UTF-8'
  if (forbidden.test(value)) return 'a control character'
  return undefined
}

/** Whether `value` is acceptable as body text (the `GuardedString` format). */
export function isGuardedText(value: string): boolean {
  return textProblem(value, TEXT_FORBIDDEN) === undefined
}

/** Checks one piece of body text (a form field, an upload's file name); BadRequestError naming `where`. */
export function guardText(value: string, where: string): void {
  const problem = textProblem(value, TEXT_FORBIDDEN)
  if (problem !== undefined) throw invalidCharacters(where, problem)
}

function invalidCharacters(where: string, problem: string): BadRequestError {
  return new BadRequestError(`Invalid ${where}: it holds ${problem}`, 'INVALID_CHARACTERS')
}

function tooLong(where: string, limit: number): BadRequestError {
  return new BadRequestError(`Invalid ${where}: longer than ${limit} characters`, 'INPUT_TOO_LONG')
}

function decodeComponent(raw: string, where: string): string {
  if (!raw.includes('%')) return raw
  try {
    // Throws for a malformed escape and for bytes that are not UTF-8 (overlong forms and surrogates included).
    return decodeURIComponent(raw)
  } catch {
    throw new BadRequestError(`Invalid ${where}: a percent-escape that is not UTF-8`, 'INVALID_ENCODING')
  }
}

/**
 * The path: every segment must percent-decode to UTF-8 (400), be at most `maxPathSegmentChars` long (400), and hold
 * only characters an id can have (404 otherwise: no resource has such a name).
 */
function guardPath(path: string): void {
  for (const raw of path.split('/')) {
    if (raw === '') continue
    const segment = decodeComponent(raw, 'path')
    if (segment.length > INPUT_LIMITS.maxPathSegmentChars)
      throw tooLong('path segment', INPUT_LIMITS.maxPathSegmentChars)
    const problem = textProblem(segment, FIELD_FORBIDDEN)
    if (problem !== undefined) throw new NotFoundError(`Not found: the path holds ${problem}`, 'NOT_FOUND')
  }
}

/** The query string (`a=1&b=2`, form-encoded: `+` is a space): names and values decoded and checked. */
function guardQuery(query: string): void {
  let count = 0
  for (const pair of query.split('&')) {
    if (pair === '') continue
    count += 1
    if (count > INPUT_LIMITS.maxQueryParams) {
      throw new BadRequestError(
        `Too many query parameters: at most ${INPUT_LIMITS.maxQueryParams}`,
        'INPUT_TOO_LONG',
      )
    }
    const equals = pair.indexOf('=')
    const name = decodeComponent((equals === -1 ? pair : pair.slice(0, equals)).replaceAll('+', ' '), 'query')
    const where = `query parameter "${name.slice(0, 64)}"`
    const value = equals === -1 ? '' : decodeComponent(pair.slice(equals + 1).replaceAll('+', ' '), where)
    for (const text of [name, value]) {
      if (text.length > INPUT_LIMITS.maxQueryValueChars) throw tooLong(where, INPUT_LIMITS.maxQueryValueChars)
      const problem = textProblem(text, FIELD_FORBIDDEN)
      if (problem !== undefined) throw invalidCharacters(where, problem)
    }
  }
}

/**
 * Checks the URL (path and query) and the `GUARDED_HEADERS` of `request`; throws the refusal (BadRequestError,
 * or NotFoundError for a path no resource can have). Cheap for the usual request: a URL without escapes is only
 * measured and scanned.
 */
export function guardRequest(request: Request): void {
  const url = request.url
  if (url.length > INPUT_LIMITS.maxUrlChars) throw tooLong('URL', INPUT_LIMITS.maxUrlChars)
  // The scheme and host hold no `/`: the path starts at the first one after `http://`.
  const pathStart = url.indexOf('/', url.indexOf('//') + 2)
  const queryStart = url.indexOf('?', pathStart)
  const hashStart = url.indexOf('#', pathStart)
  const pathEnd = queryStart === -1 ? (hashStart === -1 ? url.length : hashStart) : queryStart
  guardPath(url.slice(pathStart, pathEnd))
  if (queryStart !== -1) guardQuery(url.slice(queryStart + 1, hashStart === -1 ? url.length : hashStart))
  for (const name of GUARDED_HEADERS) {
    const value = request.headers.get(name)
    if (value === null) continue
    const where = `${name} header`
    if (value.length > INPUT_LIMITS.maxHeaderChars) throw tooLong(where, INPUT_LIMITS.maxHeaderChars)
    const problem = textProblem(value, FIELD_FORBIDDEN)
    if (problem !== undefined) throw invalidCharacters(where, problem)
  }
}

/**
 * Checks every string (object keys included) in a parsed body, at most `maxBodyDepth` levels deep; throws
 * BadRequestError naming where the first bad one is. Tabs and line breaks are allowed in body text.
 */
export function guardBody(body: unknown, where = 'body'): void {
  const pending: Array<{ value: unknown; path: string; depth: number }> = [
    { value: body, path: where, depth: 0 },
  ]
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    const { value, path, depth } = next
    if (typeof value === 'string') {
      guardText(value, path)
      continue
    }
    if (typeof value !== 'object' || value === null || value instanceof Blob) continue
    if (depth >= INPUT_LIMITS.maxBodyDepth) {
      throw new BadRequestError(
        `Invalid ${where}: nested deeper than ${INPUT_LIMITS.maxBodyDepth} levels`,
        'INPUT_TOO_DEEP',
      )
    }
    for (const [key, item] of Object.entries(value)) {
      guardText(key, `${path} field name`)
      pending.push({ value: item, path: `${path}.${key.slice(0, 64)}`, depth: depth + 1 })
    }
  }
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true })

/** `bytes` as UTF-8 text; BadRequestError (INVALID_ENCODING) when they are not UTF-8. */
export function decodeUtf8(bytes: Uint8Array, where = 'body'): string {
  try {
    return strictUtf8.decode(bytes)
  } catch {
    throw new BadRequestError(`Invalid ${where}: the bytes are not UTF-8`, 'INVALID_ENCODING')
  }
}

/** The JSON Schema `format` of `GuardedString` (test/fuzz checks every documented body string has it or a pattern). */
export const GUARDED_TEXT_FORMAT = 'airwave-guarded-text'
FormatRegistry.Set(GUARDED_TEXT_FORMAT, isGuardedText)

/**
 * `t.String` whose value must pass the guard (no NUL, lone surrogate, U+FFFD or control character but tab and line
 * breaks): every free-text string in a body or realtime message schema. (Bodies Elysia parses are checked through
 * their schemas rather than by a hook: a global hook that reads `body` makes Elysia parse the body of every route,
 * including those that read their own and those that ignore it, whatever its size.)
 */
export function GuardedString(options: Omit<Parameters<typeof t.String>[0] & object, 'format'> = {}) {
  return t.String({ ...options, format: GUARDED_TEXT_FORMAT })
}

/** The global hook: the URL and headers of every request, before routing. Mount it right after the error handler. */
export const inputGuard = new Elysia({ name: 'input-guard' }).onRequest(({ request }) =>
  guardRequest(request),
)
