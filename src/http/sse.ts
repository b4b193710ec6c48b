import type { Server } from 'bun'
import { log } from '../platform/log.ts'
import { metrics } from '../platform/metrics.ts'

/** One Server-Sent Event. `data` is sent as JSON unless it is already a string. */
export interface SseEvent {
  id?: string
  event?: string
  data: unknown
  /** Reconnection delay the browser should use, in ms. */
  retry?: number
}

export interface SseOptions {
  /** Unsent bytes a client may fall behind by before it is disconnected (one slow client never grows memory). */
  maxQueuedBytes: number
  /** Sends `heartbeat.event()` every `intervalMs` so proxies and idle timers see traffic. */
  heartbeat?: { intervalMs: number; event: () => SseEvent }
  /** Runs once when the stream ends for any reason: client gone, closed, too slow, server shutdown. */
  onClose?: (reason: SseCloseReason) => void
}

export type SseCloseReason = 'client-gone' | 'closed' | 'too-slow' | 'shutdown'

const encoder = new TextEncoder()

/** `formatSseEvent` as UTF-8 bytes, ready for `SseStream.sendRaw`. */
export function encodeSseEvent(event: SseEvent): Uint8Array {
  return encoder.encode(formatSseEvent(event))
}

/** Serializes one event in the text/event-stream format; multi-line data becomes several `data:` lines. */
export function formatSseEvent(event: SseEvent): string {
  let out = ''
  if (event.id !== undefined) out += `id: ${event.id.replace(/[\r\n]/g, '')}\n`
  if (event.event !== undefined) out += `event: ${event.event.replace(/[\r\n]/g, '')}\n`
  if (event.retry !== undefined) out += `retry: ${Math.max(0, Math.floor(event.retry))}\n`
  const data = typeof event.data === 'string' ? event.data : JSON.stringify(event.data)
  for (const line of data.split(/\r\n|\r|\n/)) out += `data: ${line}\n`
  return `${out}\n`
}

const SSE_HEADERS = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache, no-transform',
  connection: 'keep-alive',
  // Stops nginx and similar proxies from buffering the stream.
  'x-accel-buffering': 'no',
}

/**
 * The answer to HEAD on an SSE route: a stream's headers and no stream. (Bun sends a HEAD answer's headers only once
 * its body ends, and an event stream never ends: HEAD on a live stream hung until the client gave up.)
 */
export function sseHeadResponse(): Response {
  return new Response(null, { headers: SSE_HEADERS })
}

/**
 * One client's event stream. `send` never blocks: events queue in the stream, and a client whose
 * queue passes `maxQueuedBytes` is cut off. A client that leaves is noticed at once through
 * `request.signal`, not at the next write.
 */
export class SseStream {
  private controller: ReadableStreamDefaultController<Uint8Array> | undefined
  private heartbeat: ReturnType<typeof setInterval> | undefined
  private ended = false
  readonly response: Response

  constructor(
    request: Request,
    private readonly options: SseOptions,
    server?: Server<unknown> | null,
  ) {
    const stream = new ReadableStream<Uint8Array>(
      {
        start: (controller) => {
          this.controller = controller
        },
        cancel: () => this.end('client-gone'),
      },
      { highWaterMark: options.maxQueuedBytes, size: (chunk) => chunk?.byteLength ?? 0 },
    )
    request.signal.addEventListener('abort', () => this.end('client-gone'), { once: true })
    // Bun's idle timeout would cut a quiet stream between heartbeats.
    server?.timeout(request, 0)
    if (options.heartbeat) {
      const { intervalMs, event } = options.heartbeat
      this.heartbeat = setInterval(() => this.send(event()), intervalMs)
    }
    this.response = new Response(stream, { headers: SSE_HEADERS })
  }

  get isOpen(): boolean {
    return !this.ended
  }

  /** Bytes queued for this client and not yet taken by the network. */
  get queuedBytes(): number {
    const desired = this.controller?.desiredSize ?? 0
    return Math.max(0, this.options.maxQueuedBytes - desired)
  }

  /** Queues `event`; false when the stream is closed or the client was just cut off for being too slow. */
  send(event: SseEvent): boolean {
    return this.sendRaw(encoder.encode(formatSseEvent(event)))
  }

  /**
   * Queues bytes already in the text/event-stream format (see `encodeSseEvent`). Broadcasters encode an
   * event once and hand the same bytes to every stream. Same result as `send`.
   */
  sendRaw(bytes: Uint8Array): boolean {
    if (this.ended || !this.controller) return false
    if (this.queuedBytes + bytes.byteLength > this.options.maxQueuedBytes) {
      metrics.sseSlowClientsDisconnected.inc()
      this.end('too-slow')
      return false
    }
    try {
      this.controller.enqueue(bytes)
      return true
    } catch {
      this.end('client-gone')
      return false
    }
  }

  /** Ends the stream after what is queued; `reason` reaches `onClose`. */
  close(reason: SseCloseReason = 'closed'): void {
    this.end(reason)
  }

  private end(reason: SseCloseReason): void {
    if (this.ended) return
    this.ended = true
    clearInterval(this.heartbeat)
    try {
      this.controller?.close()
    } catch {
      // Already closed or errored by the client going away.
    }
    try {
      this.options.onClose?.(reason)
    } catch (err) {
      log.error({ err }, 'SSE close handler failed')
    }
  }
}

/** Tracks every open SSE stream so shutdown can close them all cleanly. */
export class SseRegistry {
  private readonly streams = new Set<SseStream>()

  /** Opens a stream and tracks it until it ends. */
  open(request: Request, options: SseOptions, server?: Server<unknown> | null): SseStream {
    const onClose = options.onClose
    const stream = new SseStream(
      request,
      {
        ...options,
        onClose: (reason) => {
          this.streams.delete(stream)
          onClose?.(reason)
        },
      },
      server,
    )
    this.streams.add(stream)
    return stream
  }

  get size(): number {
    return this.streams.size
  }

  closeAll(): void {
    for (const stream of [...this.streams]) stream.close('shutdown')
  }
}
