import type { LivestreamConfig } from '../config.ts'
import { RateLimitedError } from '../platform/errors.ts'
import type { RateLimiter, RateLimits } from '../platform/rate-limit.ts'
import { livestreamMetrics } from './metrics.ts'
import { LivestreamError } from './service.ts'

const MINUTE = 60

/** A socket over its address's livestream connection budget; the socket is closed after the error. */
export class ConnectionRefusedError extends LivestreamError {}

/**
 * The document's rate limits, each configurable: livestream connections per IP, control events per
 * connection and stream-data bytes per stream on the WebSocket; general, stream and status requests per IP
 * over HTTP. stream-data chunks are not control events: they have their own per-connection rate, which
 * 100 ms MediaRecorder timeslices stay well inside (CONTRACT). WebSocket refusals become `stream-error`
 * (CONNECTION_FAILED or MEDIA_ERROR) with `retryAfter`.
 */
export class LivestreamLimits {
  readonly httpGeneral: RateLimiter
  readonly httpStream: RateLimiter
  readonly httpStatus: RateLimiter
  private readonly connections: RateLimiter
  private readonly events: RateLimiter
  private readonly chunks: RateLimiter
  private readonly data: RateLimiter
  /** Sockets already counted against their IP's connection budget (a socket counts on its first livestream event). */
  private readonly counted = new Set<string>()

  constructor(rateLimits: RateLimits, config: LivestreamConfig) {
    const rule = (name: string, points: number) => rateLimits.create({ name, points, windowSeconds: MINUTE })
    this.connections = rule('livestream-ws-connections', config.connectionsPerMinute)
    this.events = rule('livestream-ws-events', config.eventsPerMinute)
    this.chunks = rule('livestream-ws-chunks', config.chunksPerMinute)
    this.data = rule('livestream-ws-data', config.dataBytesPerMinute)
    this.httpGeneral = rule('livestream-http-general', config.httpGeneralPerMinute)
    this.httpStream = rule('livestream-http-stream', config.httpStreamPerMinute)
    this.httpStatus = rule('livestream-http-status', config.httpStatusPerMinute)
  }

  /**
   * Counts one livestream event from `socket` (and, the first time, the socket itself against its IP):
   * `stream-data` (JSON or a binary frame) against the chunk rate, any other event against the event rate.
   */
  async event(socket: string, ip: string, name: string): Promise<void> {
    if (!this.counted.has(socket)) {
      this.counted.add(socket)
      try {
        await refuse(
          'connections',
          () => this.connections.consume(ip),
          'CONNECTION_FAILED',
          (s) => {
            return `Too many livestream connections from this address; retry in ${s} s`
          },
        )
      } catch (err) {
        if (!(err instanceof LivestreamError)) throw err
        throw new ConnectionRefusedError(err.code, err.message, err.headers)
      }
    }
    if (name === 'stream-data') {
      await refuse(
        'chunks',
        () => this.chunks.consume(socket),
        'MEDIA_ERROR',
        (s) => `Too many stream-data chunks on this connection; chunk dropped, retry in ${s} s`,
      )
      return
    }
    await refuse(
      'events',
      () => this.events.consume(socket),
      'CONNECTION_FAILED',
      (s) => {
        return `Too many livestream events on this connection; retry in ${s} s`
      },
    )
  }

  /** Counts `bytes` of stream-data against the stream's per-minute budget. */
  async media(streamKey: string, bytes: number): Promise<void> {
    await refuse(
      'data',
      () => this.data.consume(streamKey, bytes),
      'MEDIA_ERROR',
      (s) => {
        return `stream-data is over ${this.data.rule.points} bytes per minute for this stream; chunk dropped, retry in ${s} s`
      },
    )
  }

  forget(socket: string): void {
    this.counted.delete(socket)
  }
}

async function refuse(
  limit: string,
  consume: () => Promise<void>,
  code: 'CONNECTION_FAILED' | 'MEDIA_ERROR',
  message: (retryAfterSeconds: string) => string,
): Promise<void> {
  try {
    await consume()
  } catch (err) {
    if (!(err instanceof RateLimitedError)) throw err
    livestreamMetrics.limited.inc({ limit })
    const retryAfter = err.headers['Retry-After'] ?? '60'
    throw new LivestreamError(code, message(retryAfter), { 'Retry-After': retryAfter })
  }
}
