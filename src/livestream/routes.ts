import { existsSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import type { Server } from 'bun'
import { Elysia } from 'elysia'
import { fileSource, serveRange } from '../http/range.ts'
import { authPlugin } from '../identity/auth-plugin.ts'
import type { TokenService } from '../identity/tokens.ts'
import { ForbiddenError, MethodNotAllowedError, NotFoundError } from '../platform/errors.ts'
import type { RateLimiter } from '../platform/rate-limit.ts'
import type { LivestreamLimits } from './limits.ts'
import { LL_PLAYLIST_FILE, llNames } from './ll-playlist.ts'
import { FileParams, PlaylistQuery, StartBody, StopBody, StreamParams } from './model.ts'
import { type LivestreamService, PLAYLIST_FILE } from './service.ts'

const SEGMENT_FILE = /^segment_(\d{1,9})\.ts$/
const SESSION_ID = /^[A-Za-z0-9_-]{1,64}$/
const CORS_ANY = { 'Access-Control-Allow-Origin': '*' }
const PLAYLIST_HEADERS = {
  'Content-Type': 'application/vnd.apple.mpegurl',
  'Cache-Control': 'no-cache',
  ...CORS_ANY,
}

interface Deps {
  service: LivestreamService
  limits: LivestreamLimits
  tokens: TokenService
  publicUrl: string
}

/** The client's address for per-IP limits; Elysia hands the Bun server to handlers. */
function clientIp(server: Server<unknown> | null, request: Request): string {
  return server?.requestIP(request)?.address ?? 'unknown'
}

/**
 * `/livestream/*` as livestream-api.md documents it, with this server as the media server: HLS playlist
 * and segments, status, active streams, start/stop (the same lifecycle as the WebSocket events), health
 * and the admin debug view.
 */
export function livestreamRoutes({ service, limits, tokens, publicUrl }: Deps) {
  const limited =
    (limiter: RateLimiter) => async (context: { server: Server<unknown> | null; request: Request }) =>
      limiter.consume(clientIp(context.server, context.request))
  const playbackUrl = (streamId: string) => `${publicUrl}/livestream/${streamId}/${PLAYLIST_FILE}`
  const ingestUrl = (streamId: string) => `${publicUrl.replace(/^http/, 'ws')}/ws?streamKey=${streamId}`

  return new Elysia({ name: 'livestream' })
    .use(authPlugin(tokens))
    .get(
      '/livestream/health',
      () => {
        const streams = service.summaries()
        const exists = existsSync(service.rootDir)
        const memory = process.memoryUsage()
        return {
          status: exists ? 'healthy' : 'unhealthy',
          timestamp: new Date().toISOString(),
          streamsDirectory: { exists, path: service.rootDir },
          activeStreams: {
            count: streams.length,
            streams: streams.map((s) => ({
              streamKey: s.streamKey,
              userId: s.userId,
              startedAt: s.startedAt,
              viewers: s.viewers,
              hasFfmpegCommand: s.hasFfmpegCommand,
              hasInputStream: s.hasInputStream,
              state: s.state,
            })),
          },
          memoryUsage: {
            rss: memory.rss,
            heapTotal: memory.heapTotal,
            heapUsed: memory.heapUsed,
            external: memory.external,
          },
        }
      },
      {
        beforeHandle: limited(limits.httpStatus),
        detail: { summary: 'Livestream health', tags: ['livestream'] },
      },
    )
    .get(
      '/livestream/active',
      () => {
        const streams = service.summaries()
        return {
          count: streams.length,
          streams: streams.map((s) => ({
            streamId: s.streamKey,
            userId: s.userId,
            status: s.state,
            startedAt: s.startedAt,
            isActive: true,
            playbackUrl: playbackUrl(s.streamKey),
            ingestUrl: ingestUrl(s.streamKey),
            viewerCount: s.viewers,
            segmentCount: s.segmentCount,
          })),
        }
      },
      { beforeHandle: limited(limits.httpStatus), detail: { summary: 'Live streams', tags: ['livestream'] } },
    )
    .get(
      '/livestream/:streamId/status',
      ({ params: { streamId } }) => {
        const summary = service.summary(streamId)
        const lowLatency = service.ll.summary(streamId)
        const files = service.files(streamId)
        const manifestPath = join(service.streamDir(streamId), PLAYLIST_FILE)
        const manifestExists = files.includes(PLAYLIST_FILE)
        const streamDirExists = existsSync(service.streamDir(streamId))
        const hasVideoContent = files.some(
          (f) => SEGMENT_FILE.test(f) && statSync(join(service.streamDir(streamId), f)).size > 0,
        )
        return {
          streamId,
          local: {
            isActive: summary !== undefined,
            manifestExists,
            streamDirExists,
            ...(summary
              ? {
                  streamData: {
                    userId: summary.userId,
                    startedAt: summary.startedAt,
                    viewers: summary.viewers,
                    hasFfmpegCommand: summary.hasFfmpegCommand,
                    hasInputStream: summary.hasInputStream,
                    broadcasterSocketId: summary.broadcasterSocketId,
                    state: summary.state,
                    segmentCount: summary.segmentCount,
                    restarts: summary.restarts,
                  },
                }
              : {}),
            files,
            manifestContent: manifestExists ? readFileSync(manifestPath, 'utf8') : null,
            // The low-latency playlist's parts, while the stream runs and a minute after it ends.
            ...(lowLatency ? { lowLatency } : {}),
          },
          overall: {
            isActive: summary !== undefined,
            hasManifest: manifestExists,
            hasStreamDir: streamDirExists,
            hasVideoContent,
          },
        }
      },
      {
        params: StreamParams,
        beforeHandle: limited(limits.httpStatus),
        detail: { summary: 'Stream status', tags: ['livestream'] },
      },
    )
    .get(
      '/livestream/:streamId/debug',
      ({ params: { streamId } }) => {
        const streamPath = service.streamDir(streamId)
        const m3u8Path = join(streamPath, PLAYLIST_FILE)
        const allFiles = service.files(streamId)
        const manifestExists = allFiles.includes(PLAYLIST_FILE)
        const manifestContent = manifestExists ? readFileSync(m3u8Path, 'utf8') : ''
        const segmentFiles = allFiles.filter((f) => SEGMENT_FILE.test(f))
        return {
          streamId,
          streamPath,
          m3u8Path,
          manifestExists,
          manifestContent,
          manifestLines: manifestContent === '' ? 0 : manifestContent.trimEnd().split('\n').length,
          segmentsInManifest: manifestContent.split('\n').filter((l) => SEGMENT_FILE.test(l.trim())).length,
          segmentFiles,
          segmentFilesCount: segmentFiles.length,
          allFiles,
          lowLatency: service.ll.debug(streamId),
          timestamp: new Date().toISOString(),
        }
      },
      {
        admin: true,
        params: StreamParams,
        beforeHandle: limited(limits.httpStatus),
        detail: { summary: 'Stream files and manifest (admin)', tags: ['livestream'] },
      },
    )
    .post(
      '/livestream/:streamId/start',
      ({ params: { streamId }, body, user }) => {
        if (body.userId !== undefined && body.userId !== user.userId) {
          throw new ForbiddenError('userId does not match the token', 'UNAUTHORIZED')
        }
        const exists = service.get(streamId) !== undefined
        if (!exists) service.start(streamId, user.userId, null)
        return {
          status: exists ? 'already_exists' : 'created_and_started',
          streamId,
          message: exists
            ? `Stream ${streamId} already exists`
            : `Stream ${streamId} created: connect a broadcaster to ${ingestUrl(streamId)}`,
          playbackUrl: playbackUrl(streamId),
          ingestUrl: ingestUrl(streamId),
          timestamp: new Date().toISOString(),
        }
      },
      {
        auth: true,
        params: StreamParams,
        body: StartBody,
        beforeHandle: limited(limits.httpGeneral),
        detail: { summary: 'Start a stream', tags: ['livestream'] },
      },
    )
    .post(
      '/livestream/:streamId/stop',
      ({ params: { streamId }, body, user }) => {
        if (body.userId !== undefined && body.userId !== user.userId) {
          throw new ForbiddenError('userId does not match the token', 'UNAUTHORIZED')
        }
        const status = service.stop(streamId, user.userId, 'stopped over HTTP')
        return {
          status,
          streamId,
          message: status === 'stopped' ? `Stream ${streamId} is ending` : `Stream ${streamId} is not live`,
          timestamp: new Date().toISOString(),
        }
      },
      {
        auth: true,
        params: StreamParams,
        body: StopBody,
        beforeHandle: limited(limits.httpGeneral),
        detail: { summary: 'Stop a stream (owner only)', tags: ['livestream'] },
      },
    )
    .all(
      // `all` so HEAD keeps the real Content-Length (see src/blobs/routes.ts).
      '/livestream/:streamId/:file',
      async ({ params: { streamId, file }, query, request, server }) => {
        if (request.method !== 'GET' && request.method !== 'HEAD') {
          throw new MethodNotAllowedError('GET, HEAD')
        }
        await limits.httpStream.consume(clientIp(server, request))
        const dir = service.streamDir(streamId)
        const countViewer = () => {
          if (query.session && SESSION_ID.test(query.session)) {
            service.get(streamId)?.send({ type: 'viewer.hls', session: query.session })
          }
        }
        if (file === PLAYLIST_FILE) {
          const playlist = Bun.file(join(dir, PLAYLIST_FILE))
          if (!(await playlist.exists()))
            throw new NotFoundError(`Stream ${streamId} not found`, 'STREAM_NOT_FOUND')
          countViewer()
          return new Response(request.method === 'HEAD' ? null : await playlist.text(), {
            headers: PLAYLIST_HEADERS,
          })
        }
        if (file === LL_PLAYLIST_FILE) {
          const text = await service.ll.playlist(streamId, query, request.signal)
          countViewer()
          return new Response(request.method === 'HEAD' ? null : text, { headers: PLAYLIST_HEADERS })
        }
        if (llNames.parse(file)) {
          const bytes = await service.ll.resource(streamId, file, request.signal)
          return new Response(request.method === 'HEAD' ? null : bytes, {
            headers: {
              'Content-Type': 'video/mp4',
              'Content-Length': String(bytes.size),
              'Cache-Control': 'public, max-age=3600, immutable',
              ...CORS_ANY,
            },
          })
        }
        const match = SEGMENT_FILE.exec(file)
        // Only finished segments: the one FFmpeg is still writing is not listed yet and must not be cached.
        if (!match || !service.isSegmentListed(streamId, Number(match[1]))) {
          throw new NotFoundError(`Segment ${file} not found`, 'SEGMENT_NOT_FOUND')
        }
        const segment = Bun.file(join(dir, file))
        if (!(await segment.exists()))
          throw new NotFoundError(`Segment ${file} not found`, 'SEGMENT_NOT_FOUND')
        const stats = await segment.stat()
        return serveRange(
          request,
          fileSource(segment, { size: stats.size, lastModified: stats.mtime, contentType: 'video/mp2t' }),
          { headers: { 'Cache-Control': 'public, max-age=3600', ...CORS_ANY } },
        )
      },
      {
        params: FileParams,
        query: PlaylistQuery,
        detail: {
          summary: 'HLS playlists (stream.m3u8; ll.m3u8 with blocking reload), segments, LL-HLS init, parts',
          tags: ['livestream'],
        },
      },
    )
}
