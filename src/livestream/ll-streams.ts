import { AppError, BadRequestError, NotFoundError } from '../platform/errors.ts'
import { LlPackager } from './ll-packager.ts'
import { LL_PLAYLIST_FILE, llNames, renderLlPlaylist, targetDuration } from './ll-playlist.ts'
import { livestreamMetrics } from './metrics.ts'

/** A blocking request could not be answered in time, or too many already wait: the client retries. */
export class LlUnavailableError extends AppError {
  constructor(message: string, code: 'PLAYLIST_TIMEOUT' | 'TOO_MANY_WAITING') {
    super(503, code, message, { 'Retry-After': '1' })
  }
}

export interface LlSettings {
  segmentSeconds: number
  /** Seconds no part exceeds (PART-TARGET). */
  partTarget: number
  /** Complete segments kept per stream. */
  windowSegments: number
  /** Requests waiting for a part, per stream. */
  maxWaiters: number
  /** How long an ended stream's LL playlist stays (with EXT-X-ENDLIST) before its bytes are dropped. */
  endedTtlMs: number
}

/** A blocking playlist reload's delivery directives, as the query gives them. */
export interface BlockingQuery {
  _HLS_msn?: string
  _HLS_part?: string
}

const NUMBER = /^\d{1,9}$/

function directive(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined
  if (!NUMBER.test(value))
    throw new BadRequestError(`${name} must be a non-negative integer`, 'BAD_DELIVERY_DIRECTIVE')
  return Number(value)
}

/**
 * Every live stream's LL-HLS packager (created when the stream starts, dropped a while after it ends) and the
 * requests against them: the playlist with blocking reload, init segments, parts (the preload-hinted one
 * waits for its bytes) and segments.
 */
export class LlStreams {
  private readonly packagers = new Map<string, LlPackager>()
  private readonly dropTimers = new Map<string, ReturnType<typeof setTimeout>>()

  constructor(readonly settings: LlSettings) {}

  /** A new stream under `streamKey`: a fresh packager replaces any earlier one. */
  open(streamKey: string): LlPackager {
    clearTimeout(this.dropTimers.get(streamKey))
    this.dropTimers.delete(streamKey)
    this.packagers.get(streamKey)?.end()
    const packager = new LlPackager({
      segmentSeconds: this.settings.segmentSeconds,
      partTarget: this.settings.partTarget,
      maxSegments: this.settings.windowSegments,
      maxWaiters: this.settings.maxWaiters,
    })
    this.packagers.set(streamKey, packager)
    return packager
  }

  get(streamKey: string): LlPackager | undefined {
    return this.packagers.get(streamKey)
  }

  /** The stream ended: its playlist gets EXT-X-ENDLIST, waiting requests are answered, and later its bytes go. */
  close(streamKey: string): void {
    const packager = this.packagers.get(streamKey)
    if (!packager) return
    packager.end()
    clearTimeout(this.dropTimers.get(streamKey))
    const timer = setTimeout(() => {
      this.dropTimers.delete(streamKey)
      if (this.packagers.get(streamKey) === packager) this.packagers.delete(streamKey)
    }, this.settings.endedTtlMs)
    timer.unref()
    this.dropTimers.set(streamKey, timer)
  }

  /** Three target durations: how long a blocking request may wait (RFC 8216bis §6.2.5.2). */
  blockingTimeoutMs(packager: LlPackager): number {
    return 3 * targetDuration(packager.view(), this.settings.segmentSeconds) * 1000
  }

  /**
   * The playlist. With `_HLS_msn` (and `_HLS_part`) it is held until that part (or segment) is listed: at once
   * when it is, 400 when it is more than two segments beyond the last one or malformed, 503 after three target
   * durations; when the stream ends meanwhile the final playlist answers.
   */
  async playlist(streamKey: string, query: BlockingQuery, signal: AbortSignal): Promise<string> {
    const msn = directive('_HLS_msn', query._HLS_msn)
    const part = directive('_HLS_part', query._HLS_part)
    if (part !== undefined && msn === undefined) {
      throw new BadRequestError('_HLS_part needs _HLS_msn', 'BAD_DELIVERY_DIRECTIVE')
    }
    const packager = this.packagers.get(streamKey)
    if (!packager) throw new NotFoundError(`Stream ${streamKey} not found`, 'STREAM_NOT_FOUND')
    if (msn !== undefined) {
      if (msn > packager.lastMsn + 2) {
        throw new BadRequestError(
          `_HLS_msn=${msn} is beyond the live edge (last segment ${packager.lastMsn})`,
          'BAD_DELIVERY_DIRECTIVE',
        )
      }
      const outcome = await packager.wait(
        () => packager.has(msn, part),
        signal,
        this.blockingTimeoutMs(packager),
      )
      this.refuse(outcome, `segment ${msn}${part === undefined ? '' : ` part ${part}`}`)
    }
    const view = packager.view()
    if (view.segments.length === 0) {
      throw new NotFoundError(`Stream ${streamKey} has no media yet`, 'STREAM_NOT_FOUND')
    }
    return renderLlPlaylist(view, this.settings)
  }

  /**
   * The bytes of `init_N.mp4`, `part_N.m4s` (the preload-hinted part waits for them) or `seg_N.m4s` (its parts);
   * 404 for anything else.
   */
  async resource(streamKey: string, file: string, signal: AbortSignal): Promise<Blob> {
    const name = llNames.parse(file)
    const packager = this.packagers.get(streamKey)
    const missing = () => new NotFoundError(`${file} not found`, 'SEGMENT_NOT_FOUND')
    if (!name || !packager) throw missing()
    if (name.kind === 'init') {
      const init = packager.init(name.n)
      if (!init) throw missing()
      return new Blob([init])
    }
    if (name.kind === 'seg') {
      const segment = packager.segment(name.n)
      if (!segment) throw missing()
      return new Blob(segment.parts.map((p) => p.bytes))
    }
    const n = name.n
    if (!packager.part(n) && packager.isNextPart(n)) {
      const outcome = await packager.wait(
        () => packager.part(n) !== undefined,
        signal,
        this.blockingTimeoutMs(packager),
      )
      if (outcome !== 'ended') this.refuse(outcome, `part ${n}`)
    }
    const part = packager.part(n)
    if (!part) throw missing()
    return new Blob([part.bytes])
  }

  /** What /status shows: the LL playlist's size and its newest part. */
  summary(streamKey: string) {
    const packager = this.packagers.get(streamKey)
    if (!packager) return null
    const view = packager.view()
    const lastSegment = view.segments.at(-1)
    const lastPart = lastSegment?.parts.at(-1)
    return {
      playlist: LL_PLAYLIST_FILE,
      segments: view.segments.filter((s) => s.complete).length,
      parts: view.segments.reduce((n, s) => n + s.parts.length, 0),
      partTarget: this.settings.partTarget,
      lastPart: lastPart
        ? {
            msn: lastSegment?.msn,
            number: lastPart.number,
            duration: lastPart.duration,
            independent: lastPart.independent,
          }
        : null,
      waiting: packager.waiting,
      ended: packager.ended,
      error: packager.lastError,
    }
  }

  /** What /debug shows: the summary, the playlist text and every part of the window. */
  debug(streamKey: string) {
    const packager = this.packagers.get(streamKey)
    if (!packager) return null
    const view = packager.view()
    return {
      ...this.summary(streamKey),
      manifestContent: view.segments.length > 0 ? renderLlPlaylist(view, this.settings) : '',
      partList: view.segments.flatMap((s) =>
        s.parts.map((p, index) => ({
          msn: s.msn,
          index,
          number: p.number,
          duration: p.duration,
          independent: p.independent,
          bytes: p.bytes.byteLength,
        })),
      ),
    }
  }

  private refuse(outcome: Awaited<ReturnType<LlPackager['wait']>>, what: string): void {
    if (outcome === 'timeout') {
      livestreamMetrics.llRefused.inc({ reason: 'timeout' })
      throw new LlUnavailableError(`${what} did not arrive in time`, 'PLAYLIST_TIMEOUT')
    }
    if (outcome === 'busy') {
      livestreamMetrics.llRefused.inc({ reason: 'busy' })
      throw new LlUnavailableError('Too many requests are waiting for this stream', 'TOO_MANY_WAITING')
    }
  }
}
