import {
  Mp4BoxSplitter,
  Mp4FormatError,
  type Mp4Track,
  type Mp4TrackFragment,
  readFragment,
  readInitTracks,
} from './mp4-boxes.ts'

/** One LL-HLS partial segment: one moof + mdat of FFmpeg's fragmented MP4, listed only once all of it arrived. */
export interface LlPart {
  /** Stream-wide part number: it names the part's URL, so a preload hint can name it before it exists. */
  number: number
  /** Seconds of media (the video track's, or the only track's). */
  duration: number
  /** Starts with a keyframe: a player may start decoding here. */
  independent: boolean
  bytes: Uint8Array<ArrayBuffer>
}

/**
 * One media segment: the parts of one GOP (a keyframe is forced at every segment boundary). It starts with an
 * independent part; one that comes before the segment is nearly full (audio-only streams: every part) joins it.
 */
export interface LlSegment {
  /** Media sequence number. */
  msn: number
  /** Number of the init segment (`init_N.mp4`) its parts need. */
  init: number
  /** The first segment of a new FFmpeg run: timestamps and encoder state start over. */
  discontinuity: boolean
  /** Wall-clock time (epoch ms) of its first sample. */
  programDateTime: number
  parts: LlPart[]
  /** Seconds: the sum of its parts. */
  duration: number
  /** No more parts will join it. */
  complete: boolean
}

/** What the playlist shows: the window of segments (the last one may still be growing). */
export interface LlPlaylistView {
  segments: readonly LlSegment[]
  /** Discontinuities before the first segment of the window (EXT-X-DISCONTINUITY-SEQUENCE). */
  discontinuitySequence: number
  /** The part FFmpeg is making now, named by the preload hint. */
  nextPart: number
  /** Longest segment so far, seconds (EXT-X-TARGETDURATION never shrinks). */
  longestSegment: number
  ended: boolean
}

export interface LlPackagerOptions {
  /** Configured segment length, seconds: keyframes are forced this far apart. */
  segmentSeconds: number
  /** Seconds no part exceeds. */
  partTarget: number
  /** Complete segments kept (the window); older ones and their bytes are dropped. */
  maxSegments: number
  /** Requests that may wait for a part of this stream at once. */
  maxWaiters: number
}

/** How a wait for a part ended. */
export type WaitOutcome = 'ready' | 'timeout' | 'ended' | 'aborted' | 'busy'

interface Waiter {
  ready: () => boolean
  settle: (outcome: WaitOutcome) => void
}

/**
 * Cuts one stream's fragmented MP4 (FFmpeg's stdout, run after run) into LL-HLS: `init_N.mp4` per run,
 * parts (one moof + mdat each, independent when the video starts on a keyframe) and segments (a new one at
 * an independent part once the segment is full within half a part, i.e. per GOP for video), with program
 * date times from the run's start. Keeps a bounded
 * window of segments, and lets requests wait (bounded in number, with a timeout and an abort signal) for a
 * part that does not exist yet. Owned by the livestream service, one per stream.
 */
export class LlPackager {
  private run = 0
  private runStartedAt = 0
  /** Media time (seconds) of the run's first part; program date times count from it. */
  private runFirstTime: number | undefined
  private splitter = new Mp4BoxSplitter()
  private ftyp: Uint8Array | null = null
  private tracks: Mp4Track[] | null = null
  private moof: Uint8Array | null = null
  private readonly inits = new Map<number, Uint8Array<ArrayBuffer>>()
  private initNumber = -1
  private readonly window: LlSegment[] = []
  private nextMsn = 0
  private nextPartNumber = 0
  private discontinuityNext = false
  private discontinuitySequence = 0
  private longestSegment = 0
  private isEnded = false
  private readonly waiters = new Set<Waiter>()
  /** Why the current run's output was dropped, if it was not fragmented MP4. */
  lastError: string | null = null

  constructor(private readonly options: LlPackagerOptions) {}

  /**
   * A new FFmpeg run begins (`startedAt`: epoch ms when its first media went in). Bytes of earlier runs are
   * ignored from now on; the segment in progress is closed, and the next part starts a segment after a
   * discontinuity, with the new run's init segment.
   */
  beginRun(run: number, startedAt: number): void {
    this.run = run
    this.splitter = new Mp4BoxSplitter()
    this.ftyp = null
    this.tracks = null
    this.moof = null
    this.runFirstTime = undefined
    const last = this.window.at(-1)
    // Program date times never go back, even if the new run starts before the old one's media ended.
    this.runStartedAt = Math.max(startedAt, last ? last.programDateTime + last.duration * 1000 : 0)
    this.closeOpenSegment()
    this.discontinuityNext = this.nextMsn > 0
    this.notify()
  }

  /** FFmpeg output of run `run`; complete parts are listed at once. */
  push(run: number, bytes: Uint8Array): void {
    if (run !== this.run || this.isEnded) return
    try {
      for (const box of this.splitter.push(bytes)) this.take(box.type, box.bytes)
    } catch (err) {
      if (!(err instanceof Mp4FormatError)) throw err
      // Nothing more of this run can be trusted; the next run starts clean.
      this.lastError = err.message
      this.run = -1
    }
  }

  /** The stream ended: the last segment is complete, no more parts come, and every waiting request is answered. */
  end(): void {
    if (this.isEnded) return
    this.isEnded = true
    this.closeOpenSegment()
    for (const waiter of this.waiters) waiter.settle('ended')
  }

  get ended(): boolean {
    return this.isEnded
  }

  view(): LlPlaylistView {
    return {
      segments: this.window,
      discontinuitySequence: this.discontinuitySequence,
      nextPart: this.nextPartNumber,
      longestSegment: this.longestSegment,
      ended: this.isEnded,
    }
  }

  init(n: number): Uint8Array<ArrayBuffer> | undefined {
    return this.inits.get(n)
  }

  part(n: number): LlPart | undefined {
    for (const segment of this.window) {
      const first = segment.parts[0]
      if (first && n >= first.number && n < first.number + segment.parts.length)
        return segment.parts[n - first.number]
    }
    return undefined
  }

  /** A complete segment of the window. */
  segment(msn: number): LlSegment | undefined {
    const segment = this.window.find((s) => s.msn === msn)
    return segment?.complete ? segment : undefined
  }

  /** The part the preload hint names: the next one, while the stream goes on. */
  isNextPart(n: number): boolean {
    return !this.isEnded && n === this.nextPartNumber
  }

  /**
   * True once the playlist holds part `part` of segment `msn`, or anything after it (a blocking reload's
   * `_HLS_msn`/`_HLS_part`); without `part`, once segment `msn` is complete.
   */
  has(msn: number, part?: number): boolean {
    for (let i = this.window.length - 1; i >= 0; i--) {
      const segment = this.window[i] as LlSegment
      if (segment.msn < msn) return false
      if (segment.msn > msn && segment.parts.length > 0) return true
      if (segment.msn === msn) return part === undefined ? segment.complete : segment.parts.length > part
    }
    // Older than the window: long available.
    return this.window.length > 0
  }

  /** Media sequence number of the last segment listed (complete or not); -1 before the first. */
  get lastMsn(): number {
    return this.nextMsn - 1
  }

  /** Requests waiting now. */
  get waiting(): number {
    return this.waiters.size
  }

  /**
   * Resolves when `ready()` holds (checked at once and after every new part), when the stream ends, after
   * `timeoutMs`, or when `signal` aborts (the client left); 'busy' at once when `maxWaiters` already wait.
   */
  wait(ready: () => boolean, signal: AbortSignal, timeoutMs: number): Promise<WaitOutcome> {
    if (ready()) return Promise.resolve('ready')
    if (this.isEnded) return Promise.resolve('ended')
    if (signal.aborted) return Promise.resolve('aborted')
    if (this.waiters.size >= this.options.maxWaiters) return Promise.resolve('busy')
    return new Promise((resolve) => {
      const onAbort = () => waiter.settle('aborted')
      const timer = setTimeout(() => waiter.settle('timeout'), timeoutMs)
      const waiter: Waiter = {
        ready,
        settle: (outcome) => {
          clearTimeout(timer)
          signal.removeEventListener('abort', onAbort)
          this.waiters.delete(waiter)
          resolve(outcome)
        },
      }
      signal.addEventListener('abort', onAbort, { once: true })
      this.waiters.add(waiter)
    })
  }

  private take(type: string, bytes: Uint8Array): void {
    if (type === 'ftyp') {
      this.ftyp = bytes
    } else if (type === 'moov') {
      if (!this.ftyp) throw new Mp4FormatError('moov without ftyp')
      this.tracks = readInitTracks(bytes)
      this.initNumber++
      this.inits.set(this.initNumber, Buffer.concat([this.ftyp, bytes]))
    } else if (type === 'moof') {
      if (!this.tracks) throw new Mp4FormatError('a fragment before the init segment')
      this.moof = bytes
    } else if (type === 'mdat' && this.moof) {
      this.addPart(this.moof, bytes)
      this.moof = null
    }
  }

  private addPart(moof: Uint8Array, mdat: Uint8Array): void {
    const tracks = this.tracks as Mp4Track[]
    const fragments = readFragment(moof, tracks)
    const video = tracks.find((t) => t.kind === 'video')
    const main: Mp4TrackFragment | undefined =
      fragments.find((f) => f.trackId === video?.id) ?? fragments.find((f) => f.samples > 0)
    if (!main) return
    const timescale = (tracks.find((t) => t.id === main.trackId) as Mp4Track).timescale
    const start = main.baseDecodeTime / timescale
    this.runFirstTime ??= start
    const part: LlPart = {
      number: this.nextPartNumber++,
      duration: main.duration / timescale,
      // Audio samples are all sync samples; only video decides.
      independent: video ? main.startsWithSync : true,
      bytes: Buffer.concat([moof, mdat]),
    }
    let open = this.window.at(-1)
    const full =
      open !== undefined && open.duration + this.options.partTarget / 2 >= this.options.segmentSeconds
    if (!open || open.complete || (part.independent && full)) {
      this.closeOpenSegment()
      open = {
        msn: this.nextMsn++,
        init: this.initNumber,
        discontinuity: this.discontinuityNext,
        programDateTime: this.runStartedAt + (start - this.runFirstTime) * 1000,
        parts: [],
        duration: 0,
        complete: false,
      }
      this.discontinuityNext = false
      this.window.push(open)
    }
    open.parts.push(part)
    open.duration += part.duration
    this.notify()
  }

  private closeOpenSegment(): void {
    const open = this.window.at(-1)
    if (!open || open.complete) return
    open.complete = true
    this.longestSegment = Math.max(this.longestSegment, open.duration)
    let complete = this.window.filter((s) => s.complete).length
    while (complete > this.options.maxSegments) {
      const dropped = this.window.shift() as LlSegment
      if (dropped.discontinuity) this.discontinuitySequence++
      complete--
    }
    const first = this.window[0]?.init ?? this.initNumber
    for (const n of this.inits.keys()) if (n < first) this.inits.delete(n)
  }

  private notify(): void {
    for (const waiter of this.waiters) if (waiter.ready()) waiter.settle('ready')
  }
}
