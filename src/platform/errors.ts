/**
 * Typed errors with stable codes. Features throw these; `src/http/error-handler.ts` maps them
 * once to each surface's error shape. Anything else that escapes a handler is a 500.
 */
export class AppError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    /** Extra response headers, e.g. Retry-After on 429. */
    readonly headers: Record<string, string> = {},
    /** Extra fields for the error body (e.g. a job's current status on 409); never overrides message or code. */
    readonly details: Record<string, unknown> = {},
  ) {
    super(message)
    this.name = new.target.name
  }
}

export class BadRequestError extends AppError {
  constructor(message: string, code = 'BAD_REQUEST') {
    super(400, code, message)
  }
}

export class UnauthorizedError extends AppError {
  constructor(message = 'Missing or invalid authentication', code = 'UNAUTHORIZED') {
    super(401, code, message)
  }
}

export class ForbiddenError extends AppError {
  constructor(message = 'Forbidden', code = 'FORBIDDEN') {
    super(403, code, message)
  }
}

export class NotFoundError extends AppError {
  constructor(message = 'Not found', code = 'NOT_FOUND') {
    super(404, code, message)
  }
}

export class MethodNotAllowedError extends AppError {
  /** `allow` lists the methods the resource does answer, e.g. `GET, HEAD`. */
  constructor(allow: string) {
    super(405, 'METHOD_NOT_ALLOWED', 'Method not allowed', { Allow: allow })
  }
}

export class ConflictError extends AppError {
  constructor(message: string, code = 'CONFLICT') {
    super(409, code, message)
  }
}

export class PayloadTooLargeError extends AppError {
  constructor(message: string, code = 'PAYLOAD_TOO_LARGE') {
    super(413, code, message)
  }
}

export class UnsupportedMediaTypeError extends AppError {
  constructor(message: string, code = 'UNSUPPORTED_MEDIA_TYPE') {
    super(415, code, message)
  }
}

export class RangeNotSatisfiableError extends AppError {
  constructor(size: number) {
    super(416, 'RANGE_NOT_SATISFIABLE', 'Requested range not satisfiable', {
      'Content-Range': `bytes */${size}`,
    })
  }
}

export class RateLimitedError extends AppError {
  constructor(retryAfterSeconds: number) {
    const seconds = Math.max(1, Math.ceil(retryAfterSeconds))
    super(429, 'RATE_LIMITED', `Too many requests; retry in ${seconds} s`, { 'Retry-After': String(seconds) })
  }
}

export class ServiceUnavailableError extends AppError {
  constructor(message: string, code = 'SERVICE_UNAVAILABLE') {
    super(503, code, message)
  }
}
