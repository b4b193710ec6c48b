import type {
  ChunkDelivery,
  TransmissionEnded,
  TransmissionStarted,
} from '../../actors/transmission.machine.ts'
import { encodeSseEvent, type SseStream } from '../http/sse.ts'
import { ChunkRing } from '../platform/native.ts'
import { radioMetrics } from './metrics.ts'

export interface ChannelLimits {
  /** Events the ring keeps for Last-Event-ID replay. */
  ringEvents: number
  /** Byte budget of the ring. */
  ringBytes: number
  /** Gap between keepalive events. */
  keepaliveMs: number
  /** A listener gets `timeout` and is closed after this long; 0 never. */
  listenTimeoutMs: number
}

interface CurrentTransmission {
  started: TransmissionStarted
  /** Event id its transmission_start was sent with. */
  eventId: number
}

/**
 * One slot's live event stream: every slot event is encoded once, kept in the native ring under its event id,
 * and the same bytes are queued to every listener (O(listeners) per event, no polling). A listener that
 * reconnects with Last-Event-ID gets what the ring still holds after it.
 */
export class SlotChannel {
  private readonly ring: ChunkRing
  /** Open listeners and their timeout timers. */
  private readonly listeners = new Map<SseStream, ReturnType<typeof setTimeout> | undefined>()
  private current: CurrentTransmission | null = null
  private keepalive: ReturnType<typeof setInterval> | undefined
  /** Frames published since the last fan-out; see `fanOut`. */
  private pending: Uint8Array[] = []

  constructor(
    readonly slot: number,
    private readonly limits: ChannelLimits,
  ) {
    // Ids start from the clock so a browser resuming after a server restart is never "ahead" of the new ring.
    this.ring = new ChunkRing({
      capacity: limits.ringEvents,
      maxBytes: limits.ringBytes,
      firstSequence: Date.now(),
    })
  }

  /** Id of the newest slot event (the id `connected`, `keepalive` and `timeout` carry). */
  get lastEventId(): number {
    return this.ring.nextSequence - 1
  }

  get listenerCount(): number {
    return this.listeners.size
  }

  /** Ids of the events the ring holds, oldest first (for tests and the inspector). */
  get heldEventIds(): { oldest: number | null; newest: number | null; count: number } {
    return { oldest: this.ring.oldestSequence, newest: this.ring.newestSequence, count: this.ring.length }
  }

  transmissionStarted(started: TransmissionStarted): void {
    const eventId = this.publish('transmission_start', startData(started))
    this.current = { started, eventId }
  }

  chunkDelivered(delivery: ChunkDelivery): void {
    const { chunk } = delivery
    this.publish('audio_chunk', {
      sequence: delivery.sequence,
      chunk: Buffer.from(chunk.data.buffer, chunk.data.byteOffset, chunk.data.byteLength).toString('base64'),
      size: chunk.size,
      transmission_id: delivery.transmissionId,
      format: chunk.format,
      duration_ms: (chunk.durationSamples / 48_000) * 1000,
    })
    radioMetrics.chunksBroadcast.inc({ slot: String(this.slot) })
  }

  transmissionEnded(ended: TransmissionEnded): void {
    this.publish('transmission_end', { transmission_id: ended.transmissionId })
    if (this.current?.started.transmissionId === ended.transmissionId) this.current = null
  }

  /**
   * Starts sending this slot's events to `stream`: `connected`, then either the replay after `lastEventId`
   * or, for a new listener joining mid-transmission, that transmission's `transmission_start`.
   */
  attach(stream: SseStream, lastEventId: number | undefined): void {
    // Pending frames are already in the ring: send them to the others first so nobody gets one twice.
    this.flushPending()
    const id = this.lastEventId
    const resuming = lastEventId !== undefined && lastEventId <= id
    stream.sendRaw(
      encodeSseEvent({
        // On a resume, `connected` must not move the browser's resume point past the replay that follows.
        id: String(resuming ? lastEventId : id),
        event: 'connected',
        data: { slot: this.slot, message: `Connected to slot ${this.slot}` },
      }),
    )
    if (resuming) {
      const held = this.ring.readAfter(lastEventId)
      const oldestHeld = held[0]?.sequence ?? id + 1
      // The transmission began after the listener left, but its start has already left the ring.
      if (this.current && this.current.eventId > lastEventId && this.current.eventId < oldestHeld) {
        stream.sendRaw(this.startFrame(this.current.eventId))
      }
      for (const entry of held) stream.sendRaw(entry.data)
    } else if (this.current) {
      stream.sendRaw(this.startFrame(id))
    }
    if (!stream.isOpen) return
    const timer =
      this.limits.listenTimeoutMs > 0
        ? setTimeout(() => this.timeOut(stream), this.limits.listenTimeoutMs)
        : undefined
    this.listeners.set(stream, timer)
    radioMetrics.listeners.set({ slot: String(this.slot) }, this.listeners.size)
    if (!this.keepalive) this.keepalive = setInterval(() => this.sendKeepalive(), this.limits.keepaliveMs)
  }

  /** Forgets a listener whose stream ended (any reason). */
  detach(stream: SseStream): void {
    if (!this.listeners.has(stream)) return
    clearTimeout(this.listeners.get(stream))
    this.listeners.delete(stream)
    radioMetrics.listeners.set({ slot: String(this.slot) }, this.listeners.size)
    if (this.listeners.size === 0) {
      clearInterval(this.keepalive)
      this.keepalive = undefined
    }
  }

  /** Stops the channel's timers; listeners themselves are closed by the SSE registry at shutdown. */
  close(): void {
    this.flushPending()
    clearInterval(this.keepalive)
    this.keepalive = undefined
    for (const timer of this.listeners.values()) clearTimeout(timer)
  }

  /** Encodes the event once, keeps it in the ring and queues the same bytes to every listener. */
  private publish(event: string, data: Record<string, unknown>): number {
    const id = this.ring.nextSequence
    const frame = encodeSseEvent({ id: String(id), event, data })
    this.ring.push(frame, Date.now())
    this.fanOut(frame)
    return id
  }

  /**
   * Queues `frame` for every listener at the end of this turn of the event loop. Frames published in the same turn
   * (many ingest requests are handled per turn under load) go out as one write per listener instead of one each:
   * the per-write cost of a stream dominates fan-out, and the delay is well under a millisecond.
   */
  private fanOut(frame: Uint8Array): void {
    this.pending.push(frame)
    if (this.pending.length === 1) setImmediate(this.flushPending)
  }

  private readonly flushPending = (): void => {
    const frames = this.pending
    if (frames.length === 0) return
    this.pending = []
    const bytes = frames.length === 1 ? (frames[0] as Uint8Array) : Buffer.concat(frames)
    // A listener too far behind is cut off inside sendRaw; its onClose detaches it.
    for (const stream of this.listeners.keys()) stream.sendRaw(bytes)
  }

  private startFrame(id: number): Uint8Array {
    if (!this.current) throw new Error('no transmission in progress')
    return encodeSseEvent({
      id: String(id),
      event: 'transmission_start',
      data: startData(this.current.started),
    })
  }

  private sendKeepalive(): void {
    this.fanOut(
      encodeSseEvent({
        id: String(this.lastEventId),
        event: 'keepalive',
        data: { timestamp: Math.floor(Date.now() / 1000) },
      }),
    )
  }

  private timeOut(stream: SseStream): void {
    this.flushPending()
    stream.sendRaw(
      encodeSseEvent({
        id: String(this.lastEventId),
        event: 'timeout',
        data: { message: 'Connection timeout' },
      }),
    )
    stream.close()
  }
}

function startData(started: TransmissionStarted): Record<string, unknown> {
  return {
    transmission_id: started.transmissionId,
    slot: started.slot,
    radio_id: started.radioId,
    talkgroup_id: started.talkgroupId,
    timestamp: started.timestamp,
  }
}
