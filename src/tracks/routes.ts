/**
 * The track library API: list and upload (`/api/tracks`), metadata, and exact HTTP Range streaming at the three
 * documented paths. Every route needs a JWT (header or `?token=`, for `<audio src>`).
 */
import { Elysia } from 'elysia'
import { passThrough } from '../http/pass-through.ts'
import { serveRange } from '../http/range.ts'
import { authPlugin } from '../identity/auth-plugin.ts'
import type { TokenService } from '../identity/tokens.ts'
import { MethodNotAllowedError, NotFoundError } from '../platform/errors.ts'
import { success, trackIdParams, trackJson } from './model.ts'
import type { TrackService } from './service.ts'

/** The stream paths of track-streaming-service.md and personal-track-control.md (which uses both prefixes). */
export const STREAM_PATHS = ['/api/stream/:trackId', '/tracks/stream/:trackId', '/api/tracks/stream/:trackId']

const STREAM_HEADERS = {
  // Answers depend on the token: shared caches must not keep them; browsers may, revalidating with the ETag.
  'Cache-Control': 'private, no-cache',
  'X-Content-Type-Options': 'nosniff',
}

const tags = ['tracks']

interface StreamContext {
  request: Request
  params: { trackId: string }
  user: { userId: string }
  set: Parameters<typeof passThrough>[1]
}

export function trackRoutes(tokens: TokenService, tracks: TrackService) {
  const stream = {
    handler: async ({ request, params, user, set }: StreamContext) => {
      if (request.method !== 'GET' && request.method !== 'HEAD') throw new MethodNotAllowedError('GET, HEAD')
      const source = tracks.streamSource(params.trackId, user.userId)
      return passThrough(await serveRange(request, source, { headers: STREAM_HEADERS }), set)
    },
    options: {
      auth: true,
      params: trackIdParams,
      detail: { summary: 'Stream a track (GET or HEAD) with RFC 9110 Range, If-Range and ETag', tags },
    },
  } as const
  const app = new Elysia({ name: 'track-routes' })
    .use(authPlugin(tokens))
    .get('/api/tracks', ({ user }) => success(tracks.list(user.userId).map(trackJson)), {
      auth: true,
      detail: { summary: "The library and the caller's own uploads", tags },
    })
    .post(
      '/api/tracks',
      async ({ request, user, set }) => {
        const track = await tracks.upload(user.userId, request)
        set.status = 201
        return success(trackJson(track))
      },
      {
        auth: true,
        // The body is streamed to disk under the upload limit; Elysia must not buffer it first.
        parse: 'none',
        detail: { summary: 'Upload a track (multipart "file"); visible to the caller only', tags },
      },
    )
    .get(
      '/api/stream/:trackId/metadata',
      ({ params, user }) => {
        const track = tracks.find(params.trackId, user.userId)
        if (!track) throw new NotFoundError('Track not found', 'TRACK_NOT_FOUND')
        return success(trackJson(track))
      },
      { auth: true, params: trackIdParams, detail: { summary: "A track's metadata", tags } },
    )
  // `all` rather than `get`: Elysia's own HEAD for GET routes reads the body and rewrites Content-Length.
  for (const path of STREAM_PATHS) app.all(path, stream.handler, stream.options)
  return app
}
