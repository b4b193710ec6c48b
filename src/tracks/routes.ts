/**
 * The track library API: list and upload (`/api/tracks`), metadata, and exact HTTP Range streaming at the three
 * documented paths. Every route needs a JWT (header or `?token=`, for `<audio src>`).
 */
import { Elysia } from 'elysia'
import { respondWithHookHeaders } from '../http/pass-through.ts'
import { authPlugin } from '../identity/auth-plugin.ts'
import type { TokenService } from '../identity/tokens.ts'
import { MethodNotAllowedError, NotFoundError } from '../platform/errors.ts'
import { success, trackIdParams, trackJson } from './model.ts'
import type { TrackService } from './service.ts'
import { STREAM_PATHS, streamTrack } from './stream-route.ts'

const tags = ['tracks']

interface StreamContext {
  request: Request
  params: { trackId: string }
  user: { userId: string }
  set: Parameters<typeof respondWithHookHeaders>[0]
}

export function trackRoutes(tokens: TokenService, tracks: TrackService) {
  const stream = {
    handler: async ({ request, params, user, set }: StreamContext) => {
      if (request.method !== 'GET' && request.method !== 'HEAD') throw new MethodNotAllowedError('GET, HEAD')
      return respondWithHookHeaders(set, {}, async (headers) =>
        streamTrack(tracks, request, params.trackId, user.userId, headers),
      )
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
  // GET and HEAD normally reach the native routes of stream-route.ts first; this route answers what they pass on.
  // `all` rather than `get`: Elysia's own HEAD for GET routes reads the body and rewrites Content-Length.
  for (const path of STREAM_PATHS) app.all(path, stream.handler, stream.options)
  return app
}
