import { encodeSseEvent, type SseStream } from '../http/sse.ts'
import { ChunkRing } from '../platform/native.ts'
import type { RadioEvent } from './events.ts'
import { sequenceOf, traceHop, tracingHops } from './hop-trace.ts'
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

/** What a channel carries: one DMR slot, or one scanner system's calls (each tagged with its talkgroup). */
export type ChannelScope = { slot: number } | { system: number }

/** Which talkgroups a listener hears; null: all of the channel. */
export type TalkgroupFilter = ReadonlySet<number> | null

interface CurrentTransmission {
  transmissionId: string
  /** Its `transmission_start` data, as JSON. */
  startData: string
  talkgroup: number | undefined
  /** Event id its transmission_start was sent with. */
  eventId: number
}

interface Listener {
  timer: ReturnType<typeof setTimeout> | undefined
  talkgroups: TalkgroupFilter
}

interface PendingFrame {
  frame: Uint8Array
  /** The talkgroup the event belongs to; undefined for channel-wide events (keepalive). */
  talkgroup: number | undefined
}

/**
 * One slot's or system's live event stream: every event is encoded once, kept in the native ring under its event
 * id, and the same bytes are queued to every listener (O(listeners) per event, no polling). A listener may hear
 * only some talkgroups; a listener that reconnects with Last-Event-ID gets what the ring still holds after it
 * (of its talkgroups).
 */
export class RadioChannel {
  private ring: ChunkRing
  /** The talkgroup of each event the ring holds, by event id (for filtered replay). */
  private readonly talkgroupOf = new Map<number, number>()
  private readonly listeners = new Map<SseStream, Listener>()
  private current: CurrentTransmission | null = null
  private keepalive: ReturnType<typeof setInterval> | undefined
  /** Frames published since the last fan-out; see `fanOut`. */
  private pending: PendingFrame[] = []
  /** Sequences of the pending audio chunks, when hops are traced (hop-trace.ts). */
  private traced: number[] = []
  /** Metric label: `1`, `2` for slots, `system:7` for a system. */
  private readonly metricLabel: string

  constructor(
    readonly scope: ChannelScope,
    private readonly limits: ChannelLimits,
  ) {
    this.metricLabel = 'slot' in scope ? String(scope.slot) : `system:${scope.system}`
    // Ids start from the clock so a browser resuming after a server restart is never "ahead" of the new ring.
    this.ring = this.newRing(Date.now())
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

  /** Publishes `events` under this instance's next ids (a single node, or a cluster instance cut off from Redis). */
  append(events: readonly RadioEvent[]): void {
    for (const event of events) this.receive(this.ring.nextSequence, event)
  }

  /**
   * Publishes `event` under `id`, given by whoever numbers this channel's events (this instance alone, or the
   * cluster). Ids follow one another; a jump (events this instance missed, or a cluster that lost its counters, e.g.
   * after a Redis outage, when each instance published alone) starts the replay ring over at `id`, since a ring
   * only holds consecutive ids.
   */
  receive(id: number, event: RadioEvent): void {
    if (id !== this.ring.nextSequence) this.restartRing(id)
    const frame = encodeSseEvent({ id: String(id), event: event.name, data: event.data })
    this.ring.push(frame, Date.now())
    if (event.talkgroup !== undefined) this.rememberTalkgroup(id, event.talkgroup)
    if (tracingHops && event.name === 'audio_chunk' && 'slot' in this.scope) {
      const sequence = sequenceOf(event.data)
      traceHop('chan', this.scope.slot, sequence)
      this.traced.push(sequence)
    }
    this.fanOut({ frame, talkgroup: event.talkgroup })
    if (event.name === 'transmission_start') {
      this.current = {
        transmissionId: event.transmissionId,
        startData: event.data,
        talkgroup: event.talkgroup,
        eventId: id,
      }
    } else if (event.name === 'transmission_end') {
      if (this.current?.transmissionId === event.transmissionId) this.current = null
    } else {
      radioMetrics.chunksBroadcast.inc({ slot: this.metricLabel })
    }
  }

  /**
   * Starts sending this channel's events (of `talkgroups`, or all) to `stream`: `connected`, then either the replay
   * after `lastEventId` or, for a new listener joining mid-transmission, that transmission's `transmission_start`.
   */
  attach(stream: SseStream, lastEventId: number | undefined, talkgroups: TalkgroupFilter = null): void {
    const hears = (talkgroup: number | undefined) =>
      talkgroups === null || talkgroup === undefined || talkgroups.has(talkgroup)
    // Pending frames are already in the ring: send them to the others first so nobody gets one twice.
    this.flushPending()
    const id = this.lastEventId
    const resuming = lastEventId !== undefined && lastEventId <= id
    stream.sendRaw(
      encodeSseEvent({
        // On a resume, `connected` must not move the browser's resume point past the replay that follows.
        id: String(resuming ? lastEventId : id),
        event: 'connected',
        data: this.connectedData(talkgroups),
      }),
    )
    const current = this.current && hears(this.current.talkgroup) ? this.current : null
    if (resuming) {
      const held = this.ring.readAfter(lastEventId)
      const oldestHeld = held[0]?.sequence ?? id + 1
      // The transmission began after the listener left, but its start has already left the ring.
      if (current && current.eventId > lastEventId && current.eventId < oldestHeld) {
        stream.sendRaw(startFrame(current, current.eventId))
      }
      for (const entry of held) if (hears(this.talkgroupOf.get(entry.sequence))) stream.sendRaw(entry.data)
    } else if (current) {
      stream.sendRaw(startFrame(current, id))
    }
    if (!stream.isOpen) return
    const timer =
      this.limits.listenTimeoutMs > 0
        ? setTimeout(() => this.timeOut(stream), this.limits.listenTimeoutMs)
        : undefined
    this.listeners.set(stream, { timer, talkgroups })
    radioMetrics.listeners.set({ slot: this.metricLabel }, this.listeners.size)
    if (!this.keepalive) this.keepalive = setInterval(() => this.sendKeepalive(), this.limits.keepaliveMs)
  }

  /** No transmission is known to be in progress (a new listener gets none until the next transmission_start). */
  forgetCurrent(): void {
    this.current = null
  }

  /** Forgets a listener whose stream ended (any reason). */
  detach(stream: SseStream): void {
    const listener = this.listeners.get(stream)
    if (!listener) return
    clearTimeout(listener.timer)
    this.listeners.delete(stream)
    radioMetrics.listeners.set({ slot: this.metricLabel }, this.listeners.size)
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
    for (const listener of this.listeners.values()) clearTimeout(listener.timer)
  }

  private connectedData(talkgroups: TalkgroupFilter): Record<string, unknown> {
    if ('slot' in this.scope)
      return { slot: this.scope.slot, message: `Connected to slot ${this.scope.slot}` }
    const heard = talkgroups === null ? null : [...talkgroups]
    return {
      system: this.scope.system,
      talkgroups: heard,
      message: `Connected to system ${this.scope.system}${heard ? ` talkgroups ${heard.join(',')}` : ''}`,
    }
  }

  private newRing(firstSequence: number): ChunkRing {
    return new ChunkRing({ capacity: this.limits.ringEvents, maxBytes: this.limits.ringBytes, firstSequence })
  }

  /** After a jump nothing before it is known for sure, not even which transmission is in progress. */
  private restartRing(firstSequence: number): void {
    this.flushPending()
    this.ring = this.newRing(firstSequence)
    this.talkgroupOf.clear()
    this.forgetCurrent()
  }

  /** A tagged event's talkgroup is kept while the ring holds the event, for filtered replay. */
  private rememberTalkgroup(id: number, talkgroup: number): void {
    this.talkgroupOf.set(id, talkgroup)
    const oldest = this.ring.oldestSequence
    if (oldest === null) return
    for (const held of this.talkgroupOf.keys()) {
      if (held >= oldest) break
      this.talkgroupOf.delete(held)
    }
  }

  /**
   * Queues `frame` for every listener at the end of this turn of the event loop. Frames published in the same turn
   * (many ingest requests are handled per turn under load) go out as one write per listener instead of one each:
   * the per-write cost of a stream dominates fan-out, and the delay is well under a millisecond.
   */
  private fanOut(pending: PendingFrame): void {
    this.pending.push(pending)
    if (this.pending.length === 1) setImmediate(this.flushPending)
  }

  private readonly flushPending = (): void => {
    const frames = this.pending
    if (frames.length === 0) return
    this.pending = []
    const all = concat(frames.map((p) => p.frame))
    // Listeners with the same filter share one buffer: one concatenation per distinct filter, not per listener.
    const byFilter = new Map<TalkgroupFilter, Uint8Array>()
    // A listener too far behind is cut off inside sendRaw; its onClose detaches it.
    for (const [stream, { talkgroups }] of this.listeners) {
      if (talkgroups === null) {
        stream.sendRaw(all)
        continue
      }
      let bytes = byFilter.get(talkgroups)
      if (!bytes) {
        bytes = concat(
          frames.filter((p) => p.talkgroup === undefined || talkgroups.has(p.talkgroup)).map((p) => p.frame),
        )
        byFilter.set(talkgroups, bytes)
      }
      if (bytes.byteLength > 0) stream.sendRaw(bytes)
    }
    if (tracingHops && 'slot' in this.scope) {
      for (const sequence of this.traced) traceHop('sse', this.scope.slot, sequence)
      this.traced = []
    }
  }

  private sendKeepalive(): void {
    this.fanOut({
      frame: encodeSseEvent({
        id: String(this.lastEventId),
        event: 'keepalive',
        data: { timestamp: Math.floor(Date.now() / 1000) },
      }),
      talkgroup: undefined,
    })
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

function startFrame(current: CurrentTransmission, id: number): Uint8Array {
  return encodeSseEvent({ id: String(id), event: 'transmission_start', data: current.startData })
}

function concat(frames: Uint8Array[]): Uint8Array {
  return frames.length === 1 ? (frames[0] as Uint8Array) : Buffer.concat(frames)
}
