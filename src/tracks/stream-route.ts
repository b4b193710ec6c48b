/**
 * Track streaming at the three documented paths: one answer, served two ways. GET and HEAD go through Bun's own
 * router (`trackStreamRoutes`, a native route: see src/http/native-route.ts), since a player fetches a track in
 * many small ranges and Elysia's per-request pipeline cost as much as the work; other methods, preflights and ids
 * Elysia's validation must judge go to the Elysia route in routes.ts. Both answer with `streamTrack`.
 */
import type { BunRequest } from 'bun'
import type { CorsPolicy } from '../http/cors.ts'
import { type Fetch, nativeRoute } from '../http/native-route.ts'
import { rangeResponse } from '../http/range.ts'
import { authenticate } from '../identity/auth-plugin.ts'
import { credentialOf, expiryOfVerified, type TokenService } from '../identity/tokens.ts'
import { ASCII_CONTROLS } from '../platform/control-characters.ts'
import { NotFoundError } from '../platform/errors.ts'
import { TRACK_ID_MAX_LENGTH } from './model.ts'
import type { AccelTarget, TrackService } from './service.ts'

/** The stream paths of track-streaming-service.md and personal-track-control.md (which uses both prefixes). */
export const STREAM_PATHS = [
  '/api/stream/:trackId',
  '/tracks/stream/:trackId',
  '/api/tracks/stream/:trackId',
] as const

type StreamPath = (typeof STREAM_PATHS)[number]

/** nginx's subrequest asking whether a stream may be sent (deploy/nginx/airwave.conf.template), TRACK_ACCEL_REDIRECT only. */
export const STREAM_CHECK_HEADER = 'x-airwave-stream-check'
/** Longest nginx keeps an instance's yes to a stream check (never past the token's expiry). */
export const STREAM_CHECK_TTL_S = 30
/**
 * What `X-Airwave-File` cannot carry: ASCII control characters. A C1 control is fine: its UTF-8 bytes are 0x80 and up,
 * which a header value may hold.
 */
const HEADER_UNSAFE = new RegExp(`[${ASCII_CONTROLS}]`)

const STREAM_HEADERS = {
  // Answers depend on the token: shared caches must not keep them; browsers may, revalidating with the ETag.
  'Cache-Control': 'private, no-cache',
  'X-Content-Type-Options': 'nosniff',
}

/**
 * The answer to a GET or HEAD of `trackId` by `userId` (200, 206, 304; NotFoundError, RangeNotSatisfiableError),
 * with this request's `headers` (request id, CORS) and `fixedHeaders` (STREAM_HEADERS, and whatever else is the
 * same for every request of the route: the same object each time) in it. May throw rather than reject, and answers
 * at once when it can.
 */
export function streamTrack(
  tracks: TrackService,
  request: Request,
  trackId: string,
  userId: string,
  headers: Record<string, string>,
  fixedHeaders: Readonly<Record<string, string>> = STREAM_HEADERS,
): Response | Promise<Response> {
  const accel = tracks.accelRedirectPrefix
  if (accel !== undefined)
    return accelAnswer(tracks, request, trackId, userId, accel, { ...fixedHeaders, ...headers })
  // Without TRACK_ACCEL_REDIRECT nginx's check gets a no, and hands the request to the instance as it is.
  if (request.headers.has(STREAM_CHECK_HEADER)) return new Response(null, { status: 403 })
  const source = tracks.streamSource(trackId, userId)
  return rangeResponse(request, source, { fixedHeaders, headers })
}

/**
 * TRACK_ACCEL_REDIRECT: nginx in front sends the file itself (Range, If-Range, 304, HEAD); Airwave only decides who may
 * have it, naming the file in `X-Accel-Redirect`. Asked by nginx's stream check, the yes may be kept for
 * STREAM_CHECK_TTL_S (at most until the token expires), and a refusal is a bare 403 so that nginx hands the request to
 * an instance, whose answer is the documented error.
 */
function accelAnswer(
  tracks: TrackService,
  request: Request,
  trackId: string,
  userId: string,
  prefix: string,
  headers: Record<string, string>,
): Response {
  const check = request.headers.has(STREAM_CHECK_HEADER)
  let target: AccelTarget
  try {
    target = tracks.accelTarget(trackId, userId, prefix)
  } catch (err) {
    if (check && err instanceof NotFoundError) return new Response(null, { status: 403 })
    throw err
  }
  const answer: Record<string, string> = {
    ...headers,
    'Content-Type': target.contentType,
    'X-Accel-Redirect': target.uri,
  }
  if (check) {
    // A path a header cannot carry as it is is left to X-Accel-Redirect's percent-encoding.
    if (HEADER_UNSAFE.test(target.file)) return new Response(null, { status: 403 })
    const untilExpiry = Math.floor((expiryOfVerified(credentialOf(request) ?? '') - Date.now()) / 1000)
    answer['X-Accel-Expires'] = String(Math.max(0, Math.min(STREAM_CHECK_TTL_S, untilExpiry)))
    answer['X-Airwave-Folder'] = target.folder
    // The path's UTF-8 bytes as they are: nginx opens exactly those bytes.
    answer['X-Airwave-File'] = Buffer.from(target.file, 'utf8').toString('latin1')
  }
  return new Response(null, { headers: answer })
}

export interface TrackStreamRoutesOptions {
  tokens: TokenService
  tracks: TrackService
  cors: CorsPolicy
  /** Elysia's `fetch`, for what the native routes leave to the Elysia route. */
  elysia: Fetch
}

type StreamHandler = (request: BunRequest) => Response | Promise<Response>

/** The `:trackId` of a stream path (every one of them has it). */
function trackIdOf(request: BunRequest): string {
  return request.params.trackId ?? ''
}

/** GET and HEAD of the stream paths, for Bun's router (`serve.routes`). */
export function trackStreamRoutes(
  options: TrackStreamRoutesOptions,
): Record<StreamPath, { GET: StreamHandler; HEAD: StreamHandler }> {
  const { tokens, tracks } = options
  const route = (path: StreamPath) => {
    const handler = nativeRoute({
      route: path,
      cors: options.cors,
      fixedHeaders: STREAM_HEADERS,
      elysia: options.elysia,
      // Elysia decodes and validates ids itself: an over-long one is its 400, which it answers before the token.
      // A percent-escape anywhere is left to it too, so decoding is never a second, different implementation.
      passOn: (request) => trackIdOf(request).length > TRACK_ID_MAX_LENGTH || request.url.includes('%'),
      // Without a promise when the token was verified recently and the bytes are read at once (the usual range).
      handle: (request, headers, fixedHeaders) => {
        const user = authenticate(tokens, request)
        return user instanceof Promise
          ? user.then(({ userId }) =>
              streamTrack(tracks, request, trackIdOf(request), userId, headers, fixedHeaders),
            )
          : streamTrack(tracks, request, trackIdOf(request), user.userId, headers, fixedHeaders)
      },
    })
    return { GET: handler, HEAD: handler }
  }
  return {
    '/api/stream/:trackId': route('/api/stream/:trackId'),
    '/tracks/stream/:trackId': route('/tracks/stream/:trackId'),
    '/api/tracks/stream/:trackId': route('/api/tracks/stream/:trackId'),
  }
}
