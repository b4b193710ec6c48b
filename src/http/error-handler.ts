import { Elysia } from 'elysia'
import { databaseFault } from '../platform/db/faults.ts'
import { AppError } from '../platform/errors.ts'
import { log } from '../platform/log.ts'

/** Radio paths keep their document's `{success:false,error}` shape; every other surface uses `{status:'error',message}`. */
const RADIO_PATH = /^\/api\/v1\/(stream-audio|stream-listen|transmissions|systems|channels)/
/** The scanner uploaders' APIs (rdio-scanner, OpenMHz) answer errors as plain text, as the originals do. */
const UPLOADER_PATH = /^\/(api\/(call-upload|trunk-recorder-call-upload)|openmhz\/)/

/** Which error shape the surface at `path` answers in: `radio` (JSON), `standard` (JSON) or plain `text`. */
export function errorShapeOf(path: string): 'radio' | 'standard' | 'text' {
  if (UPLOADER_PATH.test(path)) return 'text'
  return RADIO_PATH.test(path) ? 'radio' : 'standard'
}

export function errorBody(
  path: string,
  message: string,
  code: string,
  details: Record<string, unknown> = {},
): Record<string, unknown> {
  return errorShapeOf(path) === 'radio'
    ? { ...details, success: false, error: message, code }
    : { ...details, status: 'error', message, code }
}

/** Seconds a client is told to wait (Retry-After) when the database is unreachable. */
export const DATABASE_RETRY_AFTER_S = 5

interface Mapped {
  status: number
  code: string
  message: string
  headers: Record<string, string>
  details?: Record<string, unknown>
}

/** Maps anything thrown in a handler to a status, a stable code and a client-safe message. */
export function mapError(error: unknown, elysiaCode: string | number): Mapped {
  if (error instanceof AppError) {
    return {
      status: error.status,
      code: error.code,
      message: error.message,
      headers: error.headers,
      details: error.details,
    }
  }
  // A value the database refused (SQLSTATE class 22) is the request's fault; only a lost database is an outage.
  switch (databaseFault(error)) {
    case 'invalid-value':
      return {
        status: 400,
        code: 'INVALID_VALUE',
        message: 'The request holds a value that cannot be stored or looked up',
        headers: {},
      }
    case 'unavailable':
      return {
        status: 503,
        code: 'DATABASE_UNAVAILABLE',
        message: 'The database is unavailable; retry shortly',
        headers: { 'Retry-After': String(DATABASE_RETRY_AFTER_S) },
      }
  }
  switch (elysiaCode) {
    case 'VALIDATION':
      return { status: 400, code: 'VALIDATION', message: validationMessage(error), headers: {} }
    case 'PARSE':
      return { status: 400, code: 'PARSE', message: 'Malformed request body', headers: {} }
    case 'NOT_FOUND':
      return { status: 404, code: 'NOT_FOUND', message: 'Not found', headers: {} }
    case 'INVALID_COOKIE_SIGNATURE':
      return { status: 400, code: 'BAD_REQUEST', message: 'Invalid cookie', headers: {} }
  }
  const status = statusOf(error)
  if (status !== undefined && status >= 400 && status < 500) {
    return { status, code: 'BAD_REQUEST', message: (error as Error).message || 'Bad request', headers: {} }
  }
  return { status: 500, code: 'INTERNAL', message: 'Internal server error', headers: {} }
}

function statusOf(error: unknown): number | undefined {
  if (typeof error === 'object' && error !== null && 'status' in error) {
    const s = (error as { status: unknown }).status
    return typeof s === 'number' ? s : undefined
  }
  return undefined
}

function validationMessage(error: unknown): string {
  // Elysia's ValidationError carries a structured `all` list; keep the first, human-sized.
  const all = (error as { all?: Array<{ path?: string; summary?: string; message?: string }> }).all
  const first = all?.[0]
  if (first) {
    const where = first.path ? first.path.replace(/^\//, '').replaceAll('/', '.') : 'request'
    return `Invalid ${where}: ${first.summary ?? first.message ?? 'invalid value'}`
  }
  return 'Invalid request'
}

/**
 * The response for anything thrown while answering `method path`: the mapped status, the surface's JSON error shape
 * and the error's own headers (plus `headers`, e.g. CORS and the request id for routes served outside Elysia).
 * 5xx errors are logged.
 */
export function errorResponse(
  error: unknown,
  elysiaCode: string | number,
  method: string,
  path: string,
  headers?: Record<string, string>,
): Response {
  const mapped = mapError(error, elysiaCode)
  if (mapped.code === 'INTERNAL') {
    log.error({ err: error, method, path }, 'unhandled error')
  } else if (mapped.status >= 500 || mapped.code === 'INVALID_VALUE') {
    // Known failures (a dependency down, a value the guard let through to the database): worth a look, not a bug.
    log.warn({ err: error, method, path, code: mapped.code }, 'request failed')
  }
  if (errorShapeOf(path) === 'text') {
    return new Response(mapped.message, {
      status: mapped.status,
      headers: { ...headers, 'content-type': 'text/plain; charset=utf-8', ...mapped.headers },
    })
  }
  return new Response(JSON.stringify(errorBody(path, mapped.message, mapped.code, mapped.details)), {
    status: mapped.status,
    headers: { ...headers, 'content-type': 'application/json; charset=utf-8', ...mapped.headers },
  })
}

/** The one place errors become responses. Mount it first so it covers every plugin. */
export const errorHandler = new Elysia({ name: 'error-handler' }).onError(
  { as: 'global' },
  ({ error, code, request, path }) => errorResponse(error, code, request.method, path),
)
