import { existsSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import type { Server } from 'bun'
import { Elysia } from 'elysia'
import { InstanceForwarder } from '../cluster/instance-forward.ts'
import { memoryUsage } from '../health/memory.ts'
import { fileSource, type RangeSource, serveRange } from '../http/range.ts'
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
  /** In a cluster: LL-HLS requests for a stream another instance runs are answered by it (undefined: single node). */
  forwarder?: InstanceForwarder
}

/** The segment files a playlist lists. */
function listedSegments(playlist: string): string[] {
  return playlist.split('\n').filter((line) => SEGMENT_FILE.test(line))
}

/** A segment from the cluster's store; segments never change once listed, so name and size make its ETag. */
function bytesSource(bytes: Uint8Array, name: string): RangeSource {
  const lastModified = new Date(0)
  return {
    size: bytes.byteLength,
    contentType: 'video/mp2t',
    lastModified,
    etag: `"${Bun.hash(name).toString(16)}-${bytes.byteLength.toString(16)}"`,
    body: (range) => (range ? bytes.slice(range.start, range.end + 1) : bytes.slice()),
  }
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
/** A `userId` in a body must be the token's user: it names whose stream it is, it never grants anything. */
function requireOwnUserId(claimed: string | undefined, userId: string): void {
  if (claimed !== undefined && claimed !== userId) {
    throw new ForbiddenError('userId does not match the token', 'UNAUTHORIZED')
  }
}

export function livestreamRoutes({ service, limits, tokens, publicUrl, forwarder }: Deps) {
  const limited =
    (limiter: RateLimiter) => async (context: { server: Server<unknown> | null; request: Request }) =>
      limiter.consume(clientIp(context.server, context.request))
  const playbackUrl = (streamId: string) => `${publicUrl}/livestream/${streamId}/${PLAYLIST_FILE}`
  const ingestUrl = (streamId: string) => `${publicUrl.replace(/^http/, 'ws')}/ws?streamKey=${streamId}`
  /**
   * LL-HLS lives in the packager of the instance running the stream: another instance forwards the request there
   * (the blocking wait happens on the owner) and streams its answer back. Undefined: answer here.
   */
  const llElsewhere = async (streamId: string, request: Request): Promise<Response | undefined> => {
    if (!forwarder || InstanceForwarder.isForwarded(request)) return undefined
    const local = service.ll.get(streamId)
    if (local && !local.ended) return undefined
    const owner = (await service.directory.find(streamId))?.owner
    if (owner === undefined || owner === service.directory.instanceId) return undefined
    return forwarder.forward(request, owner)
  }

  return new Elysia({ name: 'livestream' })
    .use(authPlugin(tokens))
    .get(
      '/livestream/health',
      async () => {
        const streams = await service.summaries()
        const exists = existsSync(service.rootDir)
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
              instanceId: s.instanceId,
            })),
          },
          memoryUsage: memoryUsage(),
        }
      },
      {
        beforeHandle: limited(limits.httpStatus),
        detail: { summary: 'Livestream health', tags: ['livestream'] },
      },
    )
    .get(
      '/livestream/active',
      async () => {
        const streams = await service.summaries()
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
            instanceId: s.instanceId,
          })),
        }
      },
      { beforeHandle: limited(limits.httpStatus), detail: { summary: 'Live streams', tags: ['livestream'] } },
    )
    .get(
      '/livestream/:streamId/status',
      async ({ params: { streamId } }) => {
        const summary = await service.summary(streamId)
        const lowLatency = service.ll.summary(streamId)
        const here = service.files(streamId)
        const manifest = await service.playlist(streamId)
        // A stream run by another instance: its files are the shared playlist and the segments it lists.
        const files =
          here.length > 0 || manifest === null ? here : [PLAYLIST_FILE, ...listedSegments(manifest)]
        const manifestExists = manifest !== null
        const streamDirExists = here.length > 0 || existsSync(service.streamDir(streamId)) || manifestExists
        const hasVideoContent =
          here.some((f) => SEGMENT_FILE.test(f) && statSync(join(service.streamDir(streamId), f)).size > 0) ||
          (here.length === 0 && files.length > 1)
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
                    instanceId: summary.instanceId,
                  },
                }
              : {}),
            files,
            manifestContent: manifest,
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
      async ({ params: { streamId }, body, user }) => {
        requireOwnUserId(body.userId, user.userId)
        const exists = await service.exists(streamId)
        if (!exists) await service.start(streamId, user.userId, null)
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
      async ({ params: { streamId }, body, user }) => {
        requireOwnUserId(body.userId, user.userId)
        const status = await service.stop(streamId, user.userId, 'stopped over HTTP')
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
        // A request another instance forwarded was limited there, per client.
        if (!forwarder?.trusted(request)) await limits.httpStream.consume(clientIp(server, request))
        const dir = service.streamDir(streamId)
        const countViewer = () => {
          if (query.session && SESSION_ID.test(query.session)) service.seeHlsSession(streamId, query.session)
        }
        if (file === PLAYLIST_FILE) {
          const playlist = await service.playlist(streamId)
          if (playlist === null) throw new NotFoundError(`Stream ${streamId} not found`, 'STREAM_NOT_FOUND')
          countViewer()
          return new Response(request.method === 'HEAD' ? null : playlist, { headers: PLAYLIST_HEADERS })
        }
        if (file === LL_PLAYLIST_FILE || llNames.parse(file)) {
          const answer = await llElsewhere(streamId, request)
          if (answer) return answer
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
        if (!match || !(await service.isSegmentListed(streamId, Number(match[1])))) {
          throw new NotFoundError(`Segment ${file} not found`, 'SEGMENT_NOT_FOUND')
        }
        const segment = Bun.file(join(dir, file))
        if (!(await segment.exists())) {
          // Made by another instance: from the cluster's store.
          const bytes = await service.sharedSegment(streamId, Number(match[1]))
          if (!bytes) throw new NotFoundError(`Segment ${file} not found`, 'SEGMENT_NOT_FOUND')
          return serveRange(request, bytesSource(bytes, `${streamId}/${file}`), {
            headers: { 'Cache-Control': 'public, max-age=3600', ...CORS_ANY },
          })
        }
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
