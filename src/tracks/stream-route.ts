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
import type { TokenService } from '../identity/tokens.ts'
import { TRACK_ID_MAX_LENGTH } from './model.ts'
import type { TrackService } from './service.ts'

/** The stream paths of track-streaming-service.md and personal-track-control.md (which uses both prefixes). */
export const STREAM_PATHS = [
  '/api/stream/:trackId',
  '/tracks/stream/:trackId',
  '/api/tracks/stream/:trackId',
] as const

type StreamPath = (typeof STREAM_PATHS)[number]

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
  if (accel !== undefined) {
    // nginx in front sends the file itself (Range, If-Range, 304, HEAD): Airwave only decides who may have it.
    const target = tracks.accelTarget(trackId, userId, accel)
    return new Response(null, {
      headers: {
        ...fixedHeaders,
        ...headers,
        'Content-Type': target.contentType,
        'X-Accel-Redirect': target.uri,
      },
    })
  }
  const source = tracks.streamSource(trackId, userId)
  return rangeResponse(request, source, { fixedHeaders, headers })
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
