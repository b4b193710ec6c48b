import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs'
import { join } from 'node:path'
import { waitFor } from 'xstate'
import {
  type LivestreamActor,
  type LivestreamSettings,
  livestreamMachine,
  MediaBytes,
  viewerCount,
} from '../../actors/livestream.machine.ts'
import type { Config } from '../config.ts'
import type { ActorRegistry } from '../platform/actors/registry.ts'
import { AppError } from '../platform/errors.ts'
import { spawnFfmpeg } from '../platform/ffmpeg-process.ts'
import { log } from '../platform/log.ts'
import type { Dispatcher } from '../realtime/dispatcher.ts'
import { buildHlsArgs, segmentFileName } from './hls-args.ts'
import { LlStreams } from './ll-streams.ts'
import { livestreamMetrics } from './metrics.ts'
import { renderPlaylist } from './playlist.ts'
import { type SpawnTranscoder, transcoderLogic } from './transcoder.ts'
import { MAX_INIT_SEGMENT_BYTES, mayStartEbmlHeader, readInitSegment, startsWithEbmlHeader } from './webm.ts'

export const LIVESTREAM_KIND = 'livestream'
export const PLAYLIST_FILE = 'stream.m3u8'
/** Stream keys name directories: letters, digits, `-` and `_` only. */
export const STREAM_KEY_PATTERN = '^[A-Za-z0-9_-]{1,64}$'
const STREAM_KEY = new RegExp(STREAM_KEY_PATTERN)
/** WebM waiting for a slow FFmpeg; about a minute of 2.5 Mbit/s video. Past it FFmpeg counts as overloaded. */
export const MAX_QUEUED_BYTES_PER_STREAM = 16 * 1024 * 1024
/** HLS players that stop polling the playlist for this long are no longer counted (livestream issue). */
export const HLS_SESSION_TTL_MS = 15_000
export const MAX_VIEWERS_PER_STREAM = 10_000
const END_TIMEOUT_MS = 3000
/** MediaRecorder's variable frame rate becomes this constant one. */
export const FRAME_RATE = 30
/** Each fMP4 fragment, i.e. each LL-HLS part, is this long (a keyframe also starts one). */
export const LL_FRAGMENT_SECONDS = 0.2
/**
 * PART-TARGET: FFmpeg closes a fragment before the first frame at or past its length, so a part is at most
 * that length plus one frame (0.234 s).
 */
export const LL_PART_TARGET_SECONDS = Math.ceil((LL_FRAGMENT_SECONDS + 1 / FRAME_RATE) * 1000) / 1000
/** Complete LL-HLS segments kept in memory per stream (12 s at 2 s segments). */
export const LL_WINDOW_SEGMENTS = 6
/** Blocking playlist and part requests that may wait at once per stream; more get 503. */
export const LL_MAX_WAITERS_PER_STREAM = 1000
/** An ended stream's LL playlist (with EXT-X-ENDLIST) is kept this long; stream.m3u8 stays for the retention. */
const LL_ENDED_TTL_MS = 60_000

/** The document's WebSocket error codes, sent as `stream-error {error, code, streamKey}`. */
export type LivestreamErrorCode =
  | 'CONNECTION_FAILED'
  | 'STREAM_NOT_FOUND'
  | 'UNAUTHORIZED'
  | 'STREAM_ALREADY_EXISTS'
  | 'MEDIA_ERROR'
  | 'FFMPEG_ERROR'

const HTTP_STATUS: Record<LivestreamErrorCode, number> = {
  CONNECTION_FAILED: 429,
  STREAM_NOT_FOUND: 404,
  UNAUTHORIZED: 403,
  STREAM_ALREADY_EXISTS: 409,
  MEDIA_ERROR: 400,
  FFMPEG_ERROR: 500,
}

/** A livestream failure with one of the document's codes; over HTTP it maps to the matching status. */
export class LivestreamError extends AppError {
  constructor(
    override readonly code: LivestreamErrorCode,
    message: string,
    headers: Record<string, string> = {},
  ) {
    super(HTTP_STATUS[code], code, message, headers)
  }
}

/** What `/status`, `/active` and `/health` show about a running stream. */
export interface StreamSummary {
  streamKey: string
  userId: string
  startedAt: string
  state: string
  viewers: number
  segmentCount: number
  hasFfmpegCommand: boolean
  hasInputStream: boolean
  broadcasterSocketId: string | null
  restarts: number
}

/**
 * Owns every livestream's lifecycle through the actor registry (kind `livestream`), carries the actors'
 * side effects out (WebSocket frames, `stream.m3u8`), and removes ended streams' files after the
 * retention period. Routes and WebSocket handlers call it; it never sees Elysia.
 */
export class LivestreamService {
  readonly rootDir: string
  private readonly settings: LivestreamSettings
  private readonly cleanupTimers = new Map<string, ReturnType<typeof setTimeout>>()
  /** Each stream's LL-HLS packager; fed by its FFmpeg's stdout, read by the LL-HLS routes. */
  readonly ll: LlStreams
  /** The start of a WebM header that arrived split across chunks, per stream, until the rest of it comes. */
  private readonly pendingHeaders = new Map<string, Uint8Array>()

  constructor(
    private readonly config: Config,
    private readonly registry: ActorRegistry,
    private readonly realtime: Dispatcher,
    spawn?: SpawnTranscoder,
  ) {
    this.rootDir = join(config.dataDir, 'livestream')
    const live = config.livestream
    this.settings = {
      segmentSeconds: live.segmentSeconds,
      maxRestarts: live.maxRestarts,
      graceMs: live.graceSeconds * 1000,
      endTimeoutMs: END_TIMEOUT_MS,
      hlsSessionTtlMs: HLS_SESSION_TTL_MS,
      maxViewers: MAX_VIEWERS_PER_STREAM,
    }
    this.ll = new LlStreams({
      segmentSeconds: live.segmentSeconds,
      partTarget: LL_PART_TARGET_SECONDS,
      windowSegments: LL_WINDOW_SEGMENTS,
      maxWaiters: LL_MAX_WAITERS_PER_STREAM,
      endedTtlMs: LL_ENDED_TTL_MS,
    })
    const spawnTranscoder: SpawnTranscoder =
      spawn ??
      ((input, onStatusLine) => {
        // The run's fMP4 goes to the stream's packager; bytes of a replaced run are ignored there.
        const packager = this.ll.get(input.streamKey)
        packager?.beginRun(input.run, Date.now())
        return spawnFfmpeg(
          config.ffmpegPath,
          buildHlsArgs({
            outputDir: this.streamDir(input.streamKey),
            segmentSeconds: live.segmentSeconds,
            startNumber: input.startNumber,
            x264Preset: live.x264Preset,
            frameRate: FRAME_RATE,
            fragmentSeconds: LL_FRAGMENT_SECONDS,
          }),
          { onStderrLine: onStatusLine, onOutput: (bytes) => packager?.push(input.run, bytes) },
        )
      })
    registry.define(
      LIVESTREAM_KIND,
      livestreamMachine.provide({
        actors: { transcoder: transcoderLogic(countedSpawn(spawnTranscoder), MAX_QUEUED_BYTES_PER_STREAM) },
      }),
      {
        // Each stream ends cleanly (last segment, #EXT-X-ENDLIST) and its FFmpeg is gone before the server exits.
        onShutdown: async (actor) => {
          actor.send({ type: 'stream.end', reason: 'server shutting down' })
          await waitFor(actor, (s) => s.status !== 'active', { timeout: END_TIMEOUT_MS + 1000 }).catch(() => {
            actor.stop()
          })
        },
      },
    )
    mkdirSync(this.rootDir, { recursive: true })
    this.scheduleLeftoverCleanup()
  }

  static isValidKey(streamKey: string): boolean {
    return STREAM_KEY.test(streamKey)
  }

  streamDir(streamKey: string): string {
    if (!STREAM_KEY.test(streamKey)) throw new LivestreamError('STREAM_NOT_FOUND', 'Invalid stream key')
    return join(this.rootDir, streamKey)
  }

  get(streamKey: string): LivestreamActor | undefined {
    if (!STREAM_KEY.test(streamKey)) return undefined
    return this.registry.get(LIVESTREAM_KIND, streamKey)
  }

  /**
   * Starts `streamKey` for `userId`, broadcast by `socket` (null when started over HTTP). An existing stream
   * of the same owner without a broadcaster is resumed by the new socket; any other existing stream is
   * STREAM_ALREADY_EXISTS.
   */
  start(streamKey: string, userId: string, socket: string | null): 'created' | 'resumed' {
    const dir = this.streamDir(streamKey)
    const existing = this.get(streamKey)
    if (existing) {
      const { context } = existing.getSnapshot()
      const resumable =
        socket !== null &&
        context.ownerId === userId &&
        context.broadcaster === null &&
        context.endReason === null
      if (!resumable)
        throw new LivestreamError('STREAM_ALREADY_EXISTS', `Stream ${streamKey} is already live`)
      existing.send({ type: 'broadcaster.attach', socket })
      return 'resumed'
    }
    // A retained earlier stream with this key gives way to the new one.
    clearTimeout(this.cleanupTimers.get(streamKey))
    this.cleanupTimers.delete(streamKey)
    rmSync(dir, { recursive: true, force: true })
    mkdirSync(dir, { recursive: true })
    this.ll.open(streamKey)
    const actor = this.registry.getOrSpawn<typeof livestreamMachine>(LIVESTREAM_KIND, streamKey, {
      streamKey,
      ownerId: userId,
      broadcaster: socket,
      startedAt: new Date().toISOString(),
      settings: this.settings,
    })
    this.carryOutEffects(streamKey, actor)
    livestreamMetrics.started.inc()
    return 'created'
  }

  /** Ends the stream if `userId` owns it; `already_stopped` when there is none (or it is already ending). */
  stop(streamKey: string, userId: string, reason: string, requester?: string): 'stopped' | 'already_stopped' {
    const actor = this.get(streamKey)
    if (!actor) return 'already_stopped'
    const snapshot = actor.getSnapshot()
    if (snapshot.context.ownerId !== userId) {
      throw new LivestreamError('UNAUTHORIZED', 'Only the stream owner may end the stream')
    }
    if (snapshot.context.endReason !== null || snapshot.status !== 'active') return 'already_stopped'
    actor.send({ type: 'stream.end', reason, requester })
    return 'stopped'
  }

  /**
   * Feeds a chunk of WebM from the broadcaster. A chunk that starts with the EBML magic begins a new WebM
   * stream; its header (EBML + Tracks), kept for FFmpeg restarts, may arrive split across chunks (at most
   * MAX_INIT_SEGMENT_BYTES are held for it), and nothing is forwarded until it is whole.
   */
  pushMedia(actor: LivestreamActor, chunk: Uint8Array): void {
    if (chunk.byteLength === 0) throw new LivestreamError('MEDIA_ERROR', 'Empty stream-data chunk')
    const { streamKey } = actor.getSnapshot().context
    const pending = this.pendingHeaders.get(streamKey)
    this.pendingHeaders.delete(streamKey)
    const bytes = pending ? Buffer.concat([pending, chunk]) : chunk
    let init: MediaBytes | null = null
    if (mayStartEbmlHeader(bytes)) {
      this.pendingHeaders.set(streamKey, bytes)
      return
    }
    if (startsWithEbmlHeader(bytes)) {
      const header = readInitSegment(bytes)
      if (!header.ok && header.incomplete && bytes.byteLength <= MAX_INIT_SEGMENT_BYTES) {
        this.pendingHeaders.set(streamKey, bytes)
        return
      }
      if (!header.ok) throw new LivestreamError('MEDIA_ERROR', `Invalid WebM: ${header.reason}`)
      init = new MediaBytes(header.init)
    }
    actor.send({ type: 'media.chunk', chunk: new MediaBytes(bytes), init })
  }

  /** The stream `socket` broadcasts, if any. */
  broadcastBy(socket: string): LivestreamActor | undefined {
    return this.actors().find((actor) => actor.getSnapshot().context.broadcaster === socket)
  }

  /** A socket closed: it stops broadcasting (the grace period starts) and watching. */
  socketClosed(socket: string): void {
    for (const actor of this.actors()) {
      if (actor.getSnapshot().context.broadcaster === socket)
        actor.send({ type: 'broadcaster.detach', socket })
      actor.send({ type: 'viewer.leave', socket })
    }
  }

  summaries(): StreamSummary[] {
    return this.actors().map((actor) => summarize(actor))
  }

  summary(streamKey: string): StreamSummary | undefined {
    const actor = this.get(streamKey)
    return actor ? summarize(actor) : undefined
  }

  /** True when segment `n` is finished and in the playlist (of the running stream, or of the retained file). */
  isSegmentListed(streamKey: string, n: number): boolean {
    const actor = this.get(streamKey)
    if (actor) return actor.getSnapshot().context.segments.some((s) => s.number === n)
    const playlist = join(this.streamDir(streamKey), PLAYLIST_FILE)
    return existsSync(playlist) && readFileSync(playlist, 'utf8').includes(`\n${segmentFileName(n)}\n`)
  }

  /** File names in the stream's directory, segments in numeric order; empty when it does not exist. */
  files(streamKey: string): string[] {
    const dir = this.streamDir(streamKey)
    if (!existsSync(dir)) return []
    return readdirSync(dir).sort((a, b) => a.localeCompare(b, 'en', { numeric: true }))
  }

  private actors(): LivestreamActor[] {
    return this.registry.list(LIVESTREAM_KIND).map(({ actor }) => actor as LivestreamActor)
  }

  private carryOutEffects(streamKey: string, actor: LivestreamActor): void {
    const dir = this.streamDir(streamKey)
    actor.on('notify', ({ to, event, data }) => {
      for (const id of to) this.realtime.sendTo(id, event, data)
    })
    actor.on('playlist', ({ segments, ended }) => {
      // Written whole then renamed, so a player never reads half a playlist.
      const text = renderPlaylist(segments, this.settings.segmentSeconds, ended)
      const temporary = join(dir, `.${PLAYLIST_FILE}.tmp`)
      try {
        writeFileSync(temporary, text)
        renameSync(temporary, join(dir, PLAYLIST_FILE))
      } catch (err) {
        log.error({ err, streamKey }, 'could not write the livestream playlist')
      }
      if (!ended) livestreamMetrics.segments.inc()
    })
    actor.subscribe({
      complete: () => {
        this.ll.close(streamKey)
        this.pendingHeaders.delete(streamKey)
        const snapshot = actor.getSnapshot()
        log.info(
          { streamKey, state: snapshot.value, reason: snapshot.context.endReason },
          'livestream finished',
        )
        this.scheduleCleanup(streamKey, this.config.livestream.retentionSeconds * 1000)
      },
    })
  }

  private scheduleCleanup(streamKey: string, delayMs: number): void {
    clearTimeout(this.cleanupTimers.get(streamKey))
    const timer = setTimeout(
      () => {
        this.cleanupTimers.delete(streamKey)
        if (this.get(streamKey)) return
        rmSync(join(this.rootDir, streamKey), { recursive: true, force: true })
      },
      Math.max(0, delayMs),
    )
    timer.unref()
    this.cleanupTimers.set(streamKey, timer)
  }

  /** Directories left by an earlier run are removed once their retention (from their last change) runs out. */
  private scheduleLeftoverCleanup(): void {
    const retentionMs = this.config.livestream.retentionSeconds * 1000
    for (const name of readdirSync(this.rootDir)) {
      if (!STREAM_KEY.test(name)) continue
      const age = Date.now() - statSync(join(this.rootDir, name)).mtimeMs
      this.scheduleCleanup(name, retentionMs - age)
    }
  }
}

function summarize(actor: LivestreamActor): StreamSummary {
  const snapshot = actor.getSnapshot()
  const { context } = snapshot
  const transcoding = context.run > 0 && snapshot.status === 'active' && !snapshot.matches('starting')
  return {
    streamKey: context.streamKey,
    userId: context.ownerId,
    startedAt: context.startedAt,
    state: String(snapshot.value),
    viewers: viewerCount(context),
    segmentCount: context.segments.length,
    hasFfmpegCommand: transcoding,
    hasInputStream: transcoding && context.broadcaster !== null,
    broadcasterSocketId: context.broadcaster,
    restarts: context.restarts,
  }
}

/** Counts FFmpeg processes for the metrics, and logs each start. */
function countedSpawn(spawn: SpawnTranscoder): SpawnTranscoder {
  return (input, onLine) => {
    const proc = spawn(input, onLine)
    livestreamMetrics.ffmpegRunning.inc()
    if (input.run > 1) livestreamMetrics.ffmpegRestarts.inc()
    log.info({ streamKey: input.streamKey, run: input.run, pid: proc.pid }, 'FFmpeg started')
    void proc.exited.then((code) => {
      livestreamMetrics.ffmpegRunning.dec()
      log.info({ streamKey: input.streamKey, run: input.run, code }, 'FFmpeg exited')
    })
    return proc
  }
}
