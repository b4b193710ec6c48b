import type { LivestreamConfig } from '../config.ts'
import { RateLimitedError } from '../platform/errors.ts'
import type { RateLimiter, RateLimits } from '../platform/rate-limit.ts'
import { livestreamMetrics } from './metrics.ts'
import { LivestreamError } from './service.ts'

const MINUTE = 60
/**
 * stream-data chunks per second per connection: far above MediaRecorder's 100 ms timeslices (10/s), which CONTRACT
 * says are never limited, and far below a flood. Chunks are not control events; their bytes have their own budget.
 */
export const MAX_CHUNKS_PER_SECOND = 50

/** A socket over its address's livestream connection budget; the socket is closed after the error. */
export class ConnectionRefusedError extends LivestreamError {}

/**
 * The document's rate limits, each configurable: livestream connections per IP, events per connection and
 * stream-data bytes per stream on the WebSocket; general, stream and status requests per IP over HTTP.
 * WebSocket refusals become `stream-error` (CONNECTION_FAILED or MEDIA_ERROR) with `retryAfter`.
 */
export class LivestreamLimits {
  readonly httpGeneral: RateLimiter
  readonly httpStream: RateLimiter
  readonly httpStatus: RateLimiter
  private readonly connections: RateLimiter
  private readonly events: RateLimiter
  private readonly data: RateLimiter
  private readonly chunks: RateLimiter
  /** Sockets already counted against their IP's connection budget (a socket counts on its first livestream event). */
  private readonly counted = new Set<string>()

  constructor(rateLimits: RateLimits, config: LivestreamConfig) {
    const rule = (name: string, points: number) => rateLimits.create({ name, points, windowSeconds: MINUTE })
    this.connections = rule('livestream-ws-connections', config.connectionsPerMinute)
    this.events = rule('livestream-ws-events', config.eventsPerMinute)
    this.data = rule('livestream-ws-data', config.dataBytesPerMinute)
    this.chunks = rateLimits.create({
      name: 'livestream-ws-chunks',
      points: MAX_CHUNKS_PER_SECOND,
      windowSeconds: 1,
    })
    this.httpGeneral = rule('livestream-http-general', config.httpGeneralPerMinute)
    this.httpStream = rule('livestream-http-stream', config.httpStreamPerMinute)
    this.httpStatus = rule('livestream-http-status', config.httpStatusPerMinute)
  }

  /** Counts one control event from `socket` (and, the first time, the socket itself against its IP). */
  async event(socket: string, ip: string): Promise<void> {
    await this.connection(socket, ip)
    await refuse(
      'events',
      () => this.events.consume(socket),
      'CONNECTION_FAILED',
      (s) => {
        return `Too many livestream events on this connection; retry in ${s} s`
      },
    )
  }

  /** Counts one stream-data chunk from `socket` (and, the first time, the socket itself against its IP). */
  async chunk(socket: string, ip: string): Promise<void> {
    await this.connection(socket, ip)
    await refuse(
      'chunks',
      () => this.chunks.consume(socket),
      'MEDIA_ERROR',
      (s) =>
        `More than ${MAX_CHUNKS_PER_SECOND} stream-data chunks per second; chunk dropped, retry in ${s} s`,
    )
  }

  /** A socket counts against its IP's connection budget on its first livestream event. */
  private async connection(socket: string, ip: string): Promise<void> {
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
