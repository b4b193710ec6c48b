import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { waitFor } from 'xstate'
import {
  type LivestreamActor,
  type LivestreamCarryOver,
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
import {
  type AdoptedStream,
  type LivestreamDirectory,
  type LivestreamNode,
  LocalLivestreamDirectory,
  type RemoteControl,
  type SharedStream,
  type StreamSummary,
} from './directory.ts'
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

export type { StreamSummary } from './directory.ts'

/** A stream as `/status`, `/active` and `/health` show it: its summary, and the instance running it. */
export interface LocatedSummary extends StreamSummary {
  instanceId: string
}

/** How long a broadcaster that came back to another instance waits for its stream to be handed over. */
const HANDOVER_TIMEOUT_MS = 4000

/**
 * Owns every livestream's lifecycle through the actor registry (kind `livestream`), carries the actors'
 * side effects out (WebSocket frames, `stream.m3u8`), and removes ended streams' files after the
 * retention period. Routes and WebSocket handlers call it; it never sees Elysia. In a cluster its directory
 * (directory.ts) says which instance runs a stream; events for streams run elsewhere are sent there.
 */
export class LivestreamService implements LivestreamNode {
  readonly rootDir: string
  private readonly settings: LivestreamSettings
  private readonly cleanupTimers = new Map<string, ReturnType<typeof setTimeout>>()
  /** Each stream's LL-HLS packager; fed by its FFmpeg's stdout, read by the LL-HLS routes. */
  readonly ll: LlStreams
  /** The start of a WebM header that arrived split across chunks, per stream, until the rest of it comes. */
  private readonly pendingHeaders = new Map<string, Uint8Array>()
  /** Streams stopped here because another instance runs them now: their end is not this instance's to announce. */
  private readonly relinquished = new Set<string>()
  /** Each stream's writes to the directory, in order (a segment before the playlist that lists it). */
  private readonly sharing = new Map<string, Promise<void>>()
  /** Streams run on other instances that each connection here watches, so its close reaches them. */
  private readonly remoteViews = new Map<string, Set<string>>()
  readonly directory: LivestreamDirectory

  constructor(
    private readonly config: Config,
    private readonly registry: ActorRegistry,
    private readonly realtime: Dispatcher,
    spawn?: SpawnTranscoder,
    directory?: LivestreamDirectory,
  ) {
    this.directory = directory ?? new LocalLivestreamDirectory(config.instanceId)
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
    this.directory.start(this)
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
  async start(streamKey: string, userId: string, socket: string | null): Promise<'created' | 'resumed'> {
    this.streamDir(streamKey)
    if (!this.get(streamKey)) {
      const remote = await this.directory.find(streamKey)
      if (remote && remote.owner !== this.directory.instanceId) {
        const resumable =
          socket !== null && remote.summary.userId === userId && remote.summary.broadcasterSocketId === null
        if (!resumable || !(await this.handOverHere(streamKey)))
          throw new LivestreamError('STREAM_ALREADY_EXISTS', `Stream ${streamKey} is already live`)
      } else if (!this.get(streamKey) && !(await this.directory.claim(streamKey))) {
        throw new LivestreamError('STREAM_ALREADY_EXISTS', `Stream ${streamKey} is already live`)
      }
    }
    return this.startHere(streamKey, userId, socket)
  }

  /** Asks the instance running `streamKey` (without a broadcaster) to hand it over; true once it runs here. */
  private async handOverHere(streamKey: string): Promise<boolean> {
    const deadline = Date.now() + HANDOVER_TIMEOUT_MS
    while (Date.now() < deadline) {
      if (this.get(streamKey)) return true
      const remote = await this.directory.find(streamKey)
      if (!remote) return this.get(streamKey) !== undefined
      if (remote.owner !== this.directory.instanceId)
        await this.directory.send(streamKey, { type: 'handover', to: this.directory.instanceId })
      await Bun.sleep(150)
    }
    return this.get(streamKey) !== undefined
  }

  private startHere(streamKey: string, userId: string, socket: string | null): 'created' | 'resumed' {
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

  /** Runs a stream whose instance stopped (or handed it over), from what that instance shared; see directory.ts. */
  adopt(stream: AdoptedStream): void {
    const { streamKey } = stream.summary
    if (this.get(streamKey)) return
    const dir = this.streamDir(streamKey)
    clearTimeout(this.cleanupTimers.get(streamKey))
    this.cleanupTimers.delete(streamKey)
    rmSync(dir, { recursive: true, force: true })
    mkdirSync(dir, { recursive: true })
    this.ll.open(streamKey)
    this.relinquished.delete(streamKey)
    const carryOver: LivestreamCarryOver = {
      ...stream.carryOver,
      // Still broadcasting when last shared: it was lost with its instance.
      broadcasterLeftAt: stream.carryOver.broadcasterLeftAt ?? stream.ownerLostAt,
      init: stream.init ? new MediaBytes(stream.init) : null,
    }
    const actor = this.registry.getOrSpawn<typeof livestreamMachine>(LIVESTREAM_KIND, streamKey, {
      streamKey,
      ownerId: stream.summary.userId,
      broadcaster: null,
      startedAt: stream.summary.startedAt,
      settings: this.settings,
      carryOver,
    })
    this.carryOutEffects(streamKey, actor)
  }

  relinquish(streamKey: string): void {
    if (!this.get(streamKey)) return
    this.relinquished.add(streamKey)
    this.registry.stop(LIVESTREAM_KIND, streamKey)
  }

  control(streamKey: string, event: RemoteControl): void {
    const actor = this.get(streamKey)
    if (!actor) return
    if (event.type !== 'handover') {
      actor.send(event)
      return
    }
    const snapshot = actor.getSnapshot()
    if (snapshot.context.broadcaster !== null || snapshot.context.endReason !== null) return
    if (snapshot.status !== 'active') return
    // The broadcaster is back on another instance: it runs the stream from what is shared now.
    this.directory.update(streamKey, {
      ...this.shared(actor),
      handoverTo: event.to,
      handoverUntil: Date.now() + HANDOVER_TIMEOUT_MS,
    })
    this.relinquish(streamKey)
    void this.share(streamKey, () => this.directory.release(streamKey))
    log.info({ streamKey, to: event.to }, "livestream handed over to the broadcaster's new instance")
  }

  reshare(streamKey: string): void {
    const actor = this.get(streamKey)
    if (!actor) return
    const { context } = actor.getSnapshot()
    this.directory.update(streamKey, this.shared(actor))
    const init = context.init
    if (init) void this.share(streamKey, () => this.directory.shareInit(streamKey, init.bytes))
    const window = context.segments.slice(-RESHARED_SEGMENTS)
    window.forEach((segment, i) => {
      void this.share(streamKey, async () => {
        const bytes = await Bun.file(join(this.streamDir(streamKey), segmentFileName(segment.number)))
          .bytes()
          .catch(() => null)
        const listed = context.segments.slice(0, context.segments.length - window.length + i + 1)
        const text = renderPlaylist(listed, this.settings.segmentSeconds, false)
        await this.directory.shareSegment(streamKey, segment, bytes, text)
      })
    })
  }

  /** After the streams ended (registry shutdown): their last writes, then the leases go. */
  async close(): Promise<void> {
    await Promise.all([...this.sharing.values()])
    await this.directory.close()
  }

  /** Queues a write to the directory after the stream's earlier ones. */
  private share(streamKey: string, write: () => Promise<void>): Promise<void> {
    const next = (this.sharing.get(streamKey) ?? Promise.resolve()).then(write).catch((err) => {
      log.warn({ err, streamKey }, 'livestream could not be shared with the cluster')
    })
    this.sharing.set(streamKey, next)
    void next.then(() => {
      if (this.sharing.get(streamKey) === next) this.sharing.delete(streamKey)
    })
    return next
  }

  private shared(actor: LivestreamActor): SharedStream {
    const { context } = actor.getSnapshot()
    return {
      summary: summarize(actor),
      owner: this.directory.instanceId,
      carryOver: {
        viewers: context.viewers,
        segments: context.segments,
        nextSegment: context.nextSegment,
        restarts: context.restarts,
        broadcasterLeftAt: context.broadcasterLeftAt,
      },
    }
  }

  /** Ends the stream if `userId` owns it; `already_stopped` when there is none (or it is already ending). */
  async stop(
    streamKey: string,
    userId: string,
    reason: string,
    requester?: string,
  ): Promise<'stopped' | 'already_stopped'> {
    const actor = this.get(streamKey)
    if (!actor) {
      const remote = await this.directory.find(streamKey)
      if (!remote) return 'already_stopped'
      if (remote.summary.userId !== userId) {
        throw new LivestreamError('UNAUTHORIZED', 'Only the stream owner may end the stream')
      }
      const sent = await this.directory.send(streamKey, { type: 'stream.end', reason, requester })
      return sent ? 'stopped' : 'already_stopped'
    }
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

  /** A socket closed: it stops broadcasting (the grace period starts) and watching, here and on other instances. */
  socketClosed(socket: string): void {
    for (const actor of this.actors()) {
      if (actor.getSnapshot().context.broadcaster === socket)
        actor.send({ type: 'broadcaster.detach', socket })
      actor.send({ type: 'viewer.leave', socket })
    }
    const remote = this.remoteViews.get(socket)
    this.remoteViews.delete(socket)
    for (const streamKey of remote ?? []) {
      if (!this.get(streamKey)) void this.directory.send(streamKey, { type: 'viewer.leave', socket })
    }
  }

  /** `socket` watches `streamKey` as viewer `viewer`, wherever the stream runs; STREAM_NOT_FOUND when it runs nowhere. */
  async join(streamKey: string, viewer: string, socket: string): Promise<void> {
    await this.toStream(streamKey, { type: 'viewer.join', viewer, socket })
    if (this.get(streamKey)) return
    const views = this.remoteViews.get(socket) ?? new Set<string>()
    views.add(streamKey)
    this.remoteViews.set(socket, views)
  }

  async leave(streamKey: string, socket: string): Promise<void> {
    await this.toStream(streamKey, { type: 'viewer.leave', socket })
    this.remoteViews.get(socket)?.delete(streamKey)
  }

  /** An HLS player polled the playlist with `?session=`: it counts as a viewer for a while. */
  seeHlsSession(streamKey: string, session: string): void {
    const actor = this.get(streamKey)
    if (actor) actor.send({ type: 'viewer.hls', session })
    else if (this.directory.shared) void this.directory.send(streamKey, { type: 'viewer.hls', session })
  }

  /** Whether `streamKey` runs here or on another instance. */
  async exists(streamKey: string): Promise<boolean> {
    return this.get(streamKey) !== undefined || (await this.directory.find(streamKey)) !== undefined
  }

  private async toStream(streamKey: string, event: RemoteControl): Promise<void> {
    const actor = this.get(streamKey)
    if (actor) {
      if (event.type !== 'handover') actor.send(event)
      return
    }
    if (!(await this.directory.send(streamKey, event)))
      throw new LivestreamError('STREAM_NOT_FOUND', `Stream ${streamKey} not found`)
  }

  /** Every live stream of the cluster (a single node: of this instance). */
  async summaries(): Promise<LocatedSummary[]> {
    const here = this.actors().map((actor) => ({
      ...summarize(actor),
      instanceId: this.directory.instanceId,
    }))
    const keys = new Set(here.map((s) => s.streamKey))
    const elsewhere = (await this.directory.list())
      .filter((s) => !keys.has(s.summary.streamKey))
      .map((s) => ({ ...s.summary, instanceId: s.owner }))
    return [...here, ...elsewhere].sort((a, b) => a.startedAt.localeCompare(b.startedAt))
  }

  async summary(streamKey: string): Promise<LocatedSummary | undefined> {
    const actor = this.get(streamKey)
    if (actor) return { ...summarize(actor), instanceId: this.directory.instanceId }
    const remote = STREAM_KEY.test(streamKey) ? await this.directory.find(streamKey) : undefined
    return remote ? { ...remote.summary, instanceId: remote.owner } : undefined
  }

  /**
   * The HLS playlist: this instance's file while it runs the stream (or when another has not shared one), else
   * the cluster's; null when there is none.
   */
  async playlist(streamKey: string): Promise<string | null> {
    const file = Bun.file(join(this.streamDir(streamKey), PLAYLIST_FILE))
    const local = async () => ((await file.exists()) ? await file.text() : null)
    if (this.get(streamKey) || !this.directory.shared)
      return (await local()) ?? (await this.directory.playlist(streamKey))
    return (await this.directory.playlist(streamKey)) ?? (await local())
  }

  /** True when segment `n` is finished and in the playlist (of the running stream, or of the retained file). */
  async isSegmentListed(streamKey: string, n: number): Promise<boolean> {
    const actor = this.get(streamKey)
    if (actor) return actor.getSnapshot().context.segments.some((s) => s.number === n)
    const playlist = await this.playlist(streamKey)
    return playlist?.includes(`\n${segmentFileName(n)}\n`) ?? false
  }

  /** A listed segment another instance made (not on this disk), from the cluster's store. */
  sharedSegment(streamKey: string, n: number): Promise<Uint8Array | null> {
    return this.directory.segment(streamKey, n)
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
      if (!this.directory.shared) return
      // The segment goes to the cluster's store before the playlist that lists it.
      const segment = ended ? null : (segments.at(-1) ?? null)
      void this.share(streamKey, async () => {
        const bytes = segment
          ? await Bun.file(join(dir, segmentFileName(segment.number)))
              .bytes()
              .catch(() => null)
          : null
        await this.directory.shareSegment(streamKey, segment, bytes, text)
      })
    })
    let sharedInit: MediaBytes | null = null
    // The actor is running already: its first state is shared now (an adopted one may not change for a while).
    if (this.directory.shared) this.directory.update(streamKey, this.shared(actor))
    actor.subscribe({
      next: () => {
        if (!this.directory.shared || actor.getSnapshot().status !== 'active') return
        this.directory.update(streamKey, this.shared(actor))
        const { init } = actor.getSnapshot().context
        if (init && init !== sharedInit) {
          sharedInit = init
          void this.share(streamKey, () => this.directory.shareInit(streamKey, init.bytes))
        }
      },
      complete: () => {
        if (this.relinquished.delete(streamKey)) {
          log.info({ streamKey }, 'livestream continues on another instance')
        } else void this.share(streamKey, () => this.directory.finish(streamKey))
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

/** Segments shared again from this disk when the instance takes its stream's lease back after an outage. */
const RESHARED_SEGMENTS = 5

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
