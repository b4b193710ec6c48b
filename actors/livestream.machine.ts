import { type ActorRefFrom, assign, enqueueActions, fromCallback, setup } from 'xstate'
import type { HlsSegment } from '../src/livestream/playlist.ts'

/**
 * Media bytes inside events and context. `toJSON` keeps them out of inspector snapshots and logs:
 * audio and video never appear there, only their size.
 */
export class MediaBytes {
  constructor(readonly bytes: Uint8Array) {}
  toJSON(): { byteLength: number } {
    return { byteLength: this.bytes.byteLength }
  }
}

export interface LivestreamSettings {
  segmentSeconds: number
  /** FFmpeg restarts in a row without a new segment before the stream ends `failed`. */
  maxRestarts: number
  /** How long a stream without a broadcaster socket waits for one before it ends. */
  graceMs: number
  /** How long `ending` waits for FFmpeg to write its last segment and exit before it is killed. */
  endTimeoutMs: number
  /** An HLS player that stops asking for the playlist this long is no longer counted. */
  hlsSessionTtlMs: number
  /** Viewers counted per stream; beyond it, new HLS sessions are not tracked (memory stays bounded). */
  maxViewers: number
}

export interface LivestreamInput {
  streamKey: string
  ownerId: string
  /** The broadcasting socket, or null for a stream created over HTTP that waits for one. */
  broadcaster: string | null
  startedAt: string
  settings: LivestreamSettings
  /**
   * Set when this instance takes over a stream whose instance stopped (a cluster): what the stream had there. The
   * actor starts `orphaned`: no FFmpeg, no broadcaster, the grace period running.
   */
  carryOver?: LivestreamCarryOver
}

/** What a stream's owner shares so that another instance can continue it (src/livestream/directory.ts). */
export interface LivestreamCarryOver {
  viewers: Record<string, Viewer>
  segments: HlsSegment[]
  nextSegment: number
  restarts: number
  init: MediaBytes | null
  /**
   * When the broadcaster left (epoch ms), or null if it was there when the stream was last shared: the successor's
   * grace period runs from then, so a stream ends within the grace period of losing its broadcaster wherever it runs.
   */
  broadcasterLeftAt: number | null
}

/** A viewer is keyed by its session id; it may watch through a socket, an HLS player, or both (counted once). */
export interface Viewer {
  socket: string | null
  hls: boolean
}

export interface LivestreamContext extends Omit<LivestreamInput, 'broadcaster' | 'carryOver'> {
  broadcaster: string | null
  /** When the broadcaster left (epoch ms; null while one is attached, or none ever was): the grace period's start. */
  broadcasterLeftAt: number | null
  /** The WebM initialization segment (EBML header + Tracks), re-fed to every restarted FFmpeg. */
  init: MediaBytes | null
  /** FFmpeg generation; 0 until the first media arrives. Child `ffmpeg-<run>` is the current one. */
  run: number
  /** Restarts since the last new segment. */
  failures: number
  restarts: number
  nextSegment: number
  segments: HlsSegment[]
  discontinuityNext: boolean
  /** A stall timer runs from the first chunk after a segment or progress; either cancels it. */
  stallArmed: boolean
  bytesIn: number
  viewers: Record<string, Viewer>
  endReason: string | null
  /** A socket that asked to end the stream without being in its audience still hears `stream-ended`. */
  endRequester: string | null
  /** Taken over from an instance that stopped (LivestreamInput.carryOver). */
  takenOver: boolean
}

/** What the transcoder child sends back to the stream. */
export type TranscoderEvent =
  | { type: 'ffmpeg.segment'; run: number; number: number; duration: number }
  /** FFmpeg's output time moved on (microseconds): it is working, even if no segment is finished yet. */
  | { type: 'ffmpeg.progress'; run: number; outTimeUs: number }
  | { type: 'ffmpeg.exited'; run: number; code: number | null; detail: string }
  /** FFmpeg fell so far behind that its input queue passed its limit. */
  | { type: 'ffmpeg.overloaded'; run: number }

/** What the stream sends to its transcoder child. */
export type TranscoderCommand = { type: 'write'; chunk: MediaBytes } | { type: 'finish' }

export interface TranscoderInput {
  streamKey: string
  run: number
  /** Written before any chunk: the kept init segment after a restart, null when the next chunk starts with it. */
  preamble: MediaBytes | null
  startNumber: number
}

export type LivestreamEvent =
  /** `init` is set when this chunk begins a WebM stream (it carries the EBML header and Tracks). */
  | { type: 'media.chunk'; chunk: MediaBytes; init: MediaBytes | null }
  | { type: 'broadcaster.attach'; socket: string }
  | { type: 'broadcaster.detach'; socket: string }
  | { type: 'grace.expired' }
  | { type: 'viewer.join'; viewer: string; socket: string }
  | { type: 'viewer.leave'; socket: string }
  | { type: 'viewer.hls'; session: string }
  | { type: 'viewer.hls.expired'; session: string }
  | { type: 'stream.end'; reason: string; requester?: string }
  | { type: 'ffmpeg.stalled'; run: number }
  | { type: 'media.idle' }
  | TranscoderEvent

/** Side effects the stream asks its owner to carry out: WebSocket frames and the playlist file. */
export type LivestreamEmitted =
  | { type: 'notify'; to: string[]; event: string; data: Record<string, unknown> }
  | { type: 'playlist'; segments: HlsSegment[]; ended: boolean }

export function viewerCount(context: Pick<LivestreamContext, 'viewers'>): number {
  return Object.keys(context.viewers).length
}

/** The broadcaster and every socket watching: who hears about viewers, segments and the end. */
function audience(context: LivestreamContext): string[] {
  const sockets = new Set<string>()
  if (context.broadcaster) sockets.add(context.broadcaster)
  for (const viewer of Object.values(context.viewers)) if (viewer.socket) sockets.add(viewer.socket)
  return [...sockets]
}

const transcoderId = (run: number) => `ffmpeg-${run}`

/**
 * One livestream: `starting` (waiting for the WebM header) → `live` (FFmpeg transcoding to HLS) →
 * `ending` (FFmpeg finishing its last segment) → `ended`, or `failed` after too many FFmpeg restarts.
 * FFmpeg is a child actor (`transcoder`, provided by the server); when it exits or stalls the stream
 * restarts it with the kept init segment and marks a discontinuity. Viewers, the broadcaster's grace
 * period and HLS session expiry are all timers here, so tests drive them with a simulated clock.
 */
export const livestreamMachine = setup({
  types: {
    context: {} as LivestreamContext,
    events: {} as LivestreamEvent,
    input: {} as LivestreamInput,
    emitted: {} as LivestreamEmitted,
  },
  actors: {
    transcoder: fromCallback<TranscoderCommand, TranscoderInput, TranscoderEvent>(() => {
      throw new Error('the livestream transcoder must be provided')
    }),
  },
  guards: {
    fromOldRun: ({ context, event }) => 'run' in event && event.run !== context.run,
    startsWebm: ({ event }) => event.type === 'media.chunk' && event.init !== null,
    canRestart: ({ context }) => context.failures < context.settings.maxRestarts,
    noBroadcaster: ({ context }) => context.broadcaster === null,
    hasInit: ({ context }) => context.init !== null,
    takenOver: ({ context }) => context.takenOver,
  },
  delays: {
    endTimeout: ({ context }) => context.settings.endTimeoutMs,
  },
  actions: {
    /** Starts FFmpeg for a chunk that begins a WebM stream: the chunk itself carries the header. */
    startTranscoder: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'media.chunk' || !event.init) return
      if (context.run > 0) enqueue.stopChild(transcoderId(context.run))
      beginRun(enqueue, context, null, { init: event.init })
    }),
    /** The first chunk after a takeover, without a header: a new FFmpeg reads the carried-over init segment first. */
    resumeTranscoder: enqueueActions(({ context, enqueue }) => beginRun(enqueue, context, context.init)),
    /** Replaces a dead or stuck FFmpeg with a new one that first reads the kept init segment again. */
    restartTranscoder: enqueueActions(({ context, event, enqueue }) => {
      const why =
        event.type === 'ffmpeg.exited'
          ? `FFmpeg exited (code ${event.code ?? 'signal'})${event.detail ? `: ${lastLine(event.detail)}` : ''}`
          : event.type === 'ffmpeg.overloaded'
            ? 'FFmpeg fell behind the incoming data'
            : 'FFmpeg stalled: data is arriving but no segment was produced'
      enqueue.stopChild(transcoderId(context.run))
      beginRun(enqueue, context, context.init, {
        failures: context.failures + 1,
        restarts: context.restarts + 1,
      })
      tellBroadcaster(
        enqueue,
        context,
        'FFMPEG_ERROR',
        `${why}; restarted (${context.failures + 1} of ${context.settings.maxRestarts})`,
      )
    }),
    /**
     * Hands a chunk to the current FFmpeg. A stall is data flowing for 3 segment durations while FFmpeg
     * neither finishes a segment nor moves its output time on: the stall timer starts at the first chunk
     * after a segment or progress, and a pause in the data of 2 segment durations (`media.idle`) disarms it,
     * since FFmpeg cannot finish a segment it has no data for. A slow FFmpeg that still progresses is not
     * restarted (a new one would start further behind); one that falls too far behind is `ffmpeg.overloaded`.
     */
    forwardChunk: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'media.chunk') return
      // Runs after `startTranscoder` in the same transition, so `context.run` is already the new child.
      enqueue.sendTo(transcoderId(context.run), { type: 'write', chunk: event.chunk })
      enqueue.assign({ bytesIn: context.bytesIn + event.chunk.bytes.byteLength, stallArmed: true })
      const segmentMs = context.settings.segmentSeconds * 1000
      if (!context.stallArmed) {
        enqueue.raise({ type: 'ffmpeg.stalled', run: context.run }, { id: 'stall', delay: 3 * segmentMs })
      }
      enqueue.cancel('idle')
      enqueue.raise({ type: 'media.idle' }, { id: 'idle', delay: 2 * segmentMs })
    }),
    disarmStall: enqueueActions(({ enqueue }) => {
      enqueue.cancel('stall')
      enqueue.assign({ stallArmed: false })
    }),
    rejectMedia: enqueueActions(({ context, enqueue }) =>
      tellBroadcaster(
        enqueue,
        context,
        'MEDIA_ERROR',
        'The stream has not started yet: the first chunk must begin with the WebM header (EBML + Tracks)',
      ),
    ),
    recordSegment: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'ffmpeg.segment') return
      const segments = [
        ...context.segments,
        { number: event.number, duration: event.duration, discontinuity: context.discontinuityNext },
      ]
      enqueue.cancel('stall')
      enqueue.assign({
        segments,
        nextSegment: event.number + 1,
        discontinuityNext: false,
        failures: 0,
        stallArmed: false,
      })
      enqueue.emit({ type: 'playlist', segments, ended: false })
      enqueue.emit({
        type: 'notify',
        to: audience(context),
        event: 'stream-segments-updated',
        data: { streamKey: context.streamKey, segmentCount: segments.length },
      })
    }),
    finishTranscoder: enqueueActions(({ context, enqueue }) => {
      enqueue.cancel('stall')
      if (context.run > 0) enqueue.sendTo(transcoderId(context.run), { type: 'finish' })
    }),
    setEndReason: assign(({ context, event }) => ({
      endReason:
        event.type === 'stream.end'
          ? event.reason
          : event.type === 'grace.expired'
            ? 'broadcaster disconnected'
            : (context.endReason ?? 'ended'),
      endRequester: event.type === 'stream.end' ? (event.requester ?? null) : context.endRequester,
    })),
    setOrphanReason: assign({
      endReason: "failed: the broadcaster's instance stopped and the broadcaster did not reconnect in time",
    }),
    setFailureReason: assign(({ context }) => ({
      endReason: `FFmpeg failed ${context.failures + 1} times in a row`,
    })),
    announceEnd: enqueueActions(({ context, enqueue }) => {
      if (context.segments.length > 0)
        enqueue.emit({ type: 'playlist', segments: context.segments, ended: true })
      const to = audience(context)
      if (context.endRequester && !to.includes(context.endRequester)) to.push(context.endRequester)
      enqueue.emit({
        type: 'notify',
        to,
        event: 'stream-ended',
        data: { streamKey: context.streamKey, reason: context.endReason ?? 'ended' },
      })
    }),
    announceFailure: enqueueActions(({ context, enqueue }) =>
      tellBroadcaster(enqueue, context, 'FFMPEG_ERROR', `Stream failed: ${context.endReason}`),
    ),
    attachBroadcaster: enqueueActions(({ event, enqueue }) => {
      if (event.type !== 'broadcaster.attach') return
      enqueue.cancel('grace')
      enqueue.assign({ broadcaster: event.socket, broadcasterLeftAt: null })
    }),
    detachBroadcaster: enqueueActions(({ context, enqueue }) => {
      enqueue.assign({ broadcaster: null, broadcasterLeftAt: Date.now() })
      enqueue.raise({ type: 'grace.expired' }, { id: 'grace', delay: context.settings.graceMs })
    }),
    armGrace: enqueueActions(({ context, enqueue }) => {
      if (context.broadcaster !== null) return
      // A stream taken over keeps the grace period its broadcaster started on the instance that stopped.
      const gone = context.broadcasterLeftAt === null ? 0 : Date.now() - context.broadcasterLeftAt
      enqueue.raise(
        { type: 'grace.expired' },
        { id: 'grace', delay: Math.max(0, context.settings.graceMs - gone) },
      )
    }),
    joinViewer: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'viewer.join') return
      const viewers = {
        ...context.viewers,
        [event.viewer]: { socket: event.socket, hls: context.viewers[event.viewer]?.hls ?? false },
      }
      enqueue.assign({ viewers })
      const count = viewerCount({ viewers })
      enqueue.emit({
        type: 'notify',
        to: [event.socket],
        event: 'stream-joined',
        data: {
          streamKey: context.streamKey,
          viewerCount: count,
          isLive: context.run > 0 && context.endReason === null,
          sessionId: event.viewer,
          segmentCount: context.segments.length,
        },
      })
      if (count > viewerCount(context)) announceViewers(enqueue, { ...context, viewers }, 'viewer-joined')
    }),
    leaveViewer: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'viewer.leave') return
      const viewers: Record<string, Viewer> = {}
      for (const [key, viewer] of Object.entries(context.viewers)) {
        if (viewer.socket !== event.socket) viewers[key] = viewer
        else if (viewer.hls) viewers[key] = { socket: null, hls: true }
      }
      enqueue.assign({ viewers })
      if (viewerCount({ viewers }) < viewerCount(context)) {
        announceViewers(enqueue, { ...context, viewers }, 'viewer-left')
      }
    }),
    seeHlsViewer: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'viewer.hls') return
      const existing = context.viewers[event.session]
      if (!existing && viewerCount(context) >= context.settings.maxViewers) return
      const id = `hls:${event.session}`
      enqueue.cancel(id)
      enqueue.raise(
        { type: 'viewer.hls.expired', session: event.session },
        { id, delay: context.settings.hlsSessionTtlMs },
      )
      if (existing?.hls) return
      const viewers = { ...context.viewers, [event.session]: { socket: existing?.socket ?? null, hls: true } }
      enqueue.assign({ viewers })
      if (!existing) announceViewers(enqueue, { ...context, viewers }, 'viewer-joined')
    }),
    expireHlsViewer: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'viewer.hls.expired') return
      const existing = context.viewers[event.session]
      if (!existing) return
      const viewers = { ...context.viewers }
      if (existing.socket) viewers[event.session] = { socket: existing.socket, hls: false }
      else delete viewers[event.session]
      enqueue.assign({ viewers })
      if (!existing.socket) announceViewers(enqueue, { ...context, viewers }, 'viewer-left')
    }),
  },
}).createMachine({
  id: 'livestream',
  context: ({ input: { carryOver, ...input } }) => ({
    ...input,
    init: carryOver?.init ?? null,
    run: 0,
    failures: 0,
    restarts: carryOver?.restarts ?? 0,
    nextSegment: carryOver?.nextSegment ?? 0,
    segments: carryOver?.segments ?? [],
    discontinuityNext: false,
    stallArmed: false,
    bytesIn: 0,
    viewers: carryOver?.viewers ?? {},
    broadcasterLeftAt: carryOver?.broadcasterLeftAt ?? null,
    endReason: null,
    endRequester: null,
    takenOver: carryOver !== undefined,
  }),
  entry: 'armGrace',
  initial: 'opening',
  on: {
    'broadcaster.attach': { actions: 'attachBroadcaster' },
    'broadcaster.detach': {
      guard: ({ context, event }) => context.broadcaster === event.socket,
      actions: 'detachBroadcaster',
    },
    'viewer.join': { actions: 'joinViewer' },
    'viewer.leave': { actions: 'leaveViewer' },
    'viewer.hls': { actions: 'seeHlsViewer' },
    'viewer.hls.expired': { actions: 'expireHlsViewer' },
    'ffmpeg.segment': [{ guard: 'fromOldRun' }, { actions: 'recordSegment' }],
  },
  states: {
    opening: { always: [{ guard: 'takenOver', target: 'orphaned' }, { target: 'starting' }] },
    /**
     * Taken over from an instance that stopped: no FFmpeg until the broadcaster is back (on any instance) and sends
     * media, then `live` again (a discontinuity); at the end of the grace period without it, `failed` for everyone.
     */
    orphaned: {
      on: {
        'media.chunk': [
          { guard: 'startsWebm', target: 'live', actions: ['startTranscoder', 'forwardChunk'] },
          { guard: 'hasInit', target: 'live', actions: ['resumeTranscoder', 'forwardChunk'] },
          { actions: 'rejectMedia' },
        ],
        'grace.expired': { guard: 'noBroadcaster', target: 'failed', actions: 'setOrphanReason' },
        'stream.end': { target: 'ended', actions: 'setEndReason' },
      },
    },
    starting: {
      on: {
        'media.chunk': [
          { guard: 'startsWebm', target: 'live', actions: ['startTranscoder', 'forwardChunk'] },
          { actions: 'rejectMedia' },
        ],
        'grace.expired': { guard: 'noBroadcaster', target: 'ended', actions: 'setEndReason' },
        'stream.end': { target: 'ended', actions: 'setEndReason' },
      },
    },
    live: {
      on: {
        'media.chunk': [
          { guard: 'startsWebm', actions: ['startTranscoder', 'forwardChunk'] },
          { actions: 'forwardChunk' },
        ],
        'ffmpeg.exited': [
          { guard: 'fromOldRun' },
          { guard: 'canRestart', actions: 'restartTranscoder' },
          { target: 'failed', actions: 'setFailureReason' },
        ],
        'ffmpeg.stalled': [
          { guard: 'fromOldRun' },
          { guard: 'canRestart', actions: 'restartTranscoder' },
          { target: 'failed', actions: 'setFailureReason' },
        ],
        'ffmpeg.overloaded': [
          { guard: 'fromOldRun' },
          { guard: 'canRestart', actions: 'restartTranscoder' },
          { target: 'failed', actions: 'setFailureReason' },
        ],
        'ffmpeg.progress': [{ guard: 'fromOldRun' }, { actions: 'disarmStall' }],
        'media.idle': { actions: 'disarmStall' },
        'grace.expired': { guard: 'noBroadcaster', target: 'ending', actions: 'setEndReason' },
        'stream.end': { target: 'ending', actions: 'setEndReason' },
      },
    },
    ending: {
      entry: 'finishTranscoder',
      after: { endTimeout: 'ended' },
      on: { 'ffmpeg.exited': [{ guard: 'fromOldRun' }, { target: 'ended' }] },
    },
    ended: { type: 'final', entry: 'announceEnd' },
    failed: { type: 'final', entry: ['announceFailure', 'announceEnd'] },
  },
})

function announceViewers(
  enqueue: { emit: (event: LivestreamEmitted) => void },
  context: LivestreamContext,
  event: 'viewer-joined' | 'viewer-left',
): void {
  enqueue.emit({
    type: 'notify',
    to: audience(context),
    event,
    data: { streamKey: context.streamKey, viewerCount: viewerCount(context) },
  })
}

/**
 * Starts FFmpeg run `context.run + 1` (the caller stops the old one): the stall timer is cancelled and the new run's
 * first segment is marked as a discontinuity if segments came before. `preamble` is what the new FFmpeg reads before
 * any chunk: the kept init segment, or null when the chunk that follows carries the header itself. `update` is what
 * else the caller changes in the context at the same time.
 */
function beginRun(
  enqueue: {
    cancel(id: string): void
    assign(update: Partial<LivestreamContext>): void
    spawnChild(src: 'transcoder', options: { id: string; input: TranscoderInput }): void
  },
  context: LivestreamContext,
  preamble: MediaBytes | null,
  update: Partial<LivestreamContext> = {},
): void {
  const run = context.run + 1
  enqueue.cancel('stall')
  enqueue.assign({ ...update, run, stallArmed: false, discontinuityNext: context.segments.length > 0 })
  enqueue.spawnChild('transcoder', {
    id: transcoderId(run),
    input: { streamKey: context.streamKey, run, preamble, startNumber: context.nextSegment },
  })
}

/** A `stream-error` for the broadcaster's socket, if one is connected. */
function tellBroadcaster(
  enqueue: { emit: (event: LivestreamEmitted) => void },
  context: LivestreamContext,
  code: 'FFMPEG_ERROR' | 'MEDIA_ERROR',
  error: string,
): void {
  if (!context.broadcaster) return
  enqueue.emit({
    type: 'notify',
    to: [context.broadcaster],
    event: 'stream-error',
    data: { error, code, streamKey: context.streamKey },
  })
}

function lastLine(text: string): string {
  return text.trim().split('\n').at(-1) ?? ''
}

export type LivestreamActor = ActorRefFrom<typeof livestreamMachine>
