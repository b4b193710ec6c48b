import type { AnyActorLogic, AnyActorRef, InspectionEvent } from 'xstate'
import { log } from '../platform/log.ts'
import { metrics } from '../platform/metrics.ts'
import { formatStateValue, type MachineGraph, machineGraph } from './machine-graph.ts'
import { DETAIL_LIMITS, SUMMARY_LIMITS, toSafeJson } from './safe-json.ts'

export interface InspectorLimits {
  /** Inspection events waiting to be processed; past it new ones are dropped and counted. */
  maxQueue: number
  /** Events remembered per actor for its timeline. */
  eventsPerActor: number
  /** How long an ended actor stays listed, and how many at most. */
  endedRetentionMs: number
  maxEnded: number
  /** Batching interval between the actor loop and serialization/delivery. */
  flushIntervalMs: number
}

export const DEFAULT_INSPECTOR_LIMITS: InspectorLimits = {
  maxQueue: 20_000,
  eventsPerActor: 200,
  endedRetentionMs: 5 * 60_000,
  maxEnded: 500,
  flushIntervalMs: 25,
}

export type ActorStatus = 'active' | 'done' | 'error' | 'stopped'

export interface ActorSummary {
  id: string
  kind: string
  state: string
  status: ActorStatus
  parent: string | null
  startedAt: string
  lastEventAt: string | null
  eventCount: number
  endedAt: string | null
  context: unknown
}

export interface EventRecord {
  type: string
  /** The sending actor's id, or `external` for events sent from outside the actor system (routes, timers). */
  source: string
  time: string
  /** The state the actor was in after handling the event. */
  stateAfter: string | null
  data: unknown
}

export interface ActorDetail extends ActorSummary {
  snapshot: unknown
  events: EventRecord[]
  machine: MachineGraph | null
}

/** What the live feed delivers; serialized once, sent to every matching subscriber. */
export type FeedMessage =
  | { type: 'actor.started'; actor: ActorSummary }
  | { type: 'event'; actorId: string; kind: string; event: EventRecord }
  | { type: 'snapshot'; actorId: string; kind: string; state: string; status: ActorStatus; context: unknown }
  | { type: 'actor.ended'; actorId: string; kind: string; status: ActorStatus; state: string }

export interface FeedFilter {
  kind?: string
  id?: string
}

interface Tracked {
  id: string
  kind: string
  parent: string | null
  ref: AnyActorRef
  startedAt: number
  lastEventAt: number | null
  eventCount: number
  events: EventRecord[]
  state: string
  status: ActorStatus
  endedAt: number | null
}

interface Subscriber {
  filter: FeedFilter
  deliver: (sequence: number, json: string) => void
}

interface Queued {
  event: InspectionEvent
  at: number
}

/**
 * Watches the registry's actor system. The inspection observer runs inside the actor loop, so it only
 * enqueues (bounded); everything else (tracking, serialization, delivery) runs in batches outside it.
 */
export class InspectionFeed {
  private queue: Queued[] = []
  private flushTimer: ReturnType<typeof setTimeout> | undefined
  private readonly sweepTimer: ReturnType<typeof setInterval>
  private readonly bySession = new Map<string, Tracked>()
  private readonly byId = new Map<string, Tracked>()
  private readonly subscribers = new Set<Subscriber>()
  private readonly transitionsByKind = new Map<string, number>()
  private readonly ratesByKind = new Map<string, number>()
  private lastRateSample = { at: performance.now(), counts: new Map<string, number>() }
  private sequence = 0
  private readonly unsubscribe: () => void

  constructor(
    source: { onInspect(listener: (event: InspectionEvent) => void): () => void },
    readonly limits: InspectorLimits = DEFAULT_INSPECTOR_LIMITS,
  ) {
    this.unsubscribe = source.onInspect((event) => this.observe(event))
    this.sweepTimer = setInterval(() => this.sweep(), 1000)
    this.sweepTimer.unref?.()
  }

  /** The observer: constant time, no serialization, never throws into the actor loop. */
  private observe(event: InspectionEvent): void {
    if (event.type !== '@xstate.actor' && event.type !== '@xstate.event' && event.type !== '@xstate.snapshot')
      return
    if (this.queue.length >= this.limits.maxQueue) {
      metrics.inspectorDroppedEvents.inc()
      return
    }
    this.queue.push({ event, at: Date.now() })
    this.flushTimer ??= setTimeout(() => this.flush(), this.limits.flushIntervalMs)
  }

  /** Processes everything queued; exposed so tests can flush without waiting. */
  flush(): void {
    this.flushTimer = undefined
    const batch = this.queue
    this.queue = []
    for (const item of batch) {
      try {
        this.process(item)
      } catch (err) {
        log.error({ err }, 'inspector failed to process an inspection event')
      }
    }
  }

  private process({ event, at }: Queued): void {
    const ref = event.actorRef as AnyActorRef
    if (event.rootId === ref.sessionId) return
    if (event.type === '@xstate.actor') {
      this.track(ref, at)
      return
    }
    const tracked = this.bySession.get(ref.sessionId) ?? this.track(ref, at)
    if (event.type === '@xstate.event') {
      const record: EventRecord = {
        type: event.event.type,
        source: event.sourceRef
          ? (this.bySession.get(event.sourceRef.sessionId)?.id ?? 'system')
          : 'external',
        time: new Date(at).toISOString(),
        stateAfter: null,
        data: toSafeJson(event.event, SUMMARY_LIMITS),
      }
      tracked.events.push(record)
      if (tracked.events.length > this.limits.eventsPerActor) tracked.events.shift()
      tracked.eventCount += 1
      tracked.lastEventAt = at
      this.publish({ type: 'event', actorId: tracked.id, kind: tracked.kind, event: record })
      return
    }
    if (event.type !== '@xstate.snapshot') return
    const snapshot = event.snapshot as { value?: unknown; status?: ActorStatus; context?: unknown }
    const previous = tracked.state
    if (snapshot.value !== undefined) tracked.state = formatStateValue(snapshot.value)
    const last = tracked.events.at(-1)
    if (last && last.stateAfter === null) last.stateAfter = tracked.state
    if (tracked.state !== previous || event.event.type !== 'xstate.init') {
      this.transitionsByKind.set(tracked.kind, (this.transitionsByKind.get(tracked.kind) ?? 0) + 1)
      metrics.actorTransitions.inc({ kind: tracked.kind })
    }
    this.publish({
      type: 'snapshot',
      actorId: tracked.id,
      kind: tracked.kind,
      state: tracked.state,
      status: snapshot.status ?? 'active',
      context: toSafeJson(snapshot.context, SUMMARY_LIMITS),
    })
    if (snapshot.status && snapshot.status !== 'active') this.markEnded(tracked, snapshot.status, at)
  }

  /** Registry actors are `kind:key`; their children are `parentId/childId` of kind `parentKind.src`. */
  private track(ref: AnyActorRef, at: number): Tracked {
    const existing = this.bySession.get(ref.sessionId)
    if (existing) return existing
    const parentRef = ref._parent
    const parent = parentRef ? this.bySession.get(parentRef.sessionId) : undefined
    const id = parent ? `${parent.id}/${ref.id}` : ref.id
    const sep = ref.id.indexOf(':')
    const kind = parent
      ? `${parent.kind}.${typeof ref.src === 'string' ? ref.src : 'child'}`
      : sep > 0
        ? ref.id.slice(0, sep)
        : 'actor'
    const tracked: Tracked = {
      id,
      kind,
      parent: parent?.id ?? null,
      ref,
      startedAt: at,
      lastEventAt: null,
      eventCount: 0,
      events: [],
      state: formatStateValue((ref.getSnapshot() as { value?: unknown }).value ?? ''),
      status: 'active',
      endedAt: null,
    }
    this.bySession.set(ref.sessionId, tracked)
    this.byId.set(id, tracked)
    this.publish({ type: 'actor.started', actor: this.summary(tracked) })
    return tracked
  }

  private markEnded(tracked: Tracked, status: ActorStatus, at: number): void {
    if (tracked.endedAt !== null) return
    tracked.status = status
    tracked.endedAt = at
    this.publish({
      type: 'actor.ended',
      actorId: tracked.id,
      kind: tracked.kind,
      status,
      state: tracked.state,
    })
  }

  /** Notices actors stopped without a final snapshot, forgets old ended ones, and samples transition rates. */
  private sweep(): void {
    const now = Date.now()
    for (const tracked of this.byId.values()) {
      if (tracked.endedAt === null) {
        const status = (tracked.ref.getSnapshot() as { status?: ActorStatus }).status
        if (status && status !== 'active') this.markEnded(tracked, status, now)
      }
    }
    const ended = [...this.byId.values()]
      .filter((t) => t.endedAt !== null)
      .sort((a, b) => (a.endedAt ?? 0) - (b.endedAt ?? 0))
    const excess = ended.length - this.limits.maxEnded
    ended.forEach((t, i) => {
      if (i < excess || now - (t.endedAt ?? now) > this.limits.endedRetentionMs) {
        this.byId.delete(t.id)
        this.bySession.delete(t.ref.sessionId)
      }
    })
    const sampleAt = performance.now()
    const seconds = (sampleAt - this.lastRateSample.at) / 1000
    for (const [kind, count] of this.transitionsByKind) {
      const before = this.lastRateSample.counts.get(kind) ?? 0
      this.ratesByKind.set(kind, seconds > 0 ? (count - before) / seconds : 0)
    }
    this.lastRateSample = { at: sampleAt, counts: new Map(this.transitionsByKind) }
  }

  private publish(message: FeedMessage): void {
    if (this.subscribers.size === 0) return
    const kind = message.type === 'actor.started' ? message.actor.kind : message.kind
    const id = message.type === 'actor.started' ? message.actor.id : message.actorId
    let json: string | undefined
    const sequence = ++this.sequence
    for (const subscriber of this.subscribers) {
      const { filter } = subscriber
      if (filter.kind && filter.kind !== kind && !kind.startsWith(`${filter.kind}.`)) continue
      if (filter.id && filter.id !== id && !id.startsWith(`${filter.id}/`)) continue
      json ??= JSON.stringify(message)
      subscriber.deliver(sequence, json)
    }
  }

  /** Live feed messages matching `filter`, each serialized once for all subscribers. */
  subscribe(filter: FeedFilter, deliver: (sequence: number, json: string) => void): () => void {
    const subscriber = { filter, deliver }
    this.subscribers.add(subscriber)
    return () => this.subscribers.delete(subscriber)
  }

  private summary(t: Tracked): ActorSummary {
    return {
      id: t.id,
      kind: t.kind,
      state: t.state,
      status: t.status,
      parent: t.parent,
      startedAt: new Date(t.startedAt).toISOString(),
      lastEventAt: t.lastEventAt === null ? null : new Date(t.lastEventAt).toISOString(),
      eventCount: t.eventCount,
      endedAt: t.endedAt === null ? null : new Date(t.endedAt).toISOString(),
      context: toSafeJson((t.ref.getSnapshot() as { context?: unknown }).context, SUMMARY_LIMITS),
    }
  }

  /** Every tracked actor (live, and ended within the retention), optionally of one kind. */
  list(kind?: string): ActorSummary[] {
    this.flush()
    const out: ActorSummary[] = []
    for (const t of this.byId.values()) {
      if (!kind || t.kind === kind || t.kind.startsWith(`${kind}.`)) out.push(this.summary(t))
    }
    return out
  }

  get(id: string): ActorDetail | undefined {
    this.flush()
    const t = this.byId.get(id)
    if (!t) return undefined
    const snapshot = t.ref.getSnapshot() as {
      value?: unknown
      status?: unknown
      context?: unknown
      children?: object
    }
    return {
      ...this.summary(t),
      snapshot: toSafeJson(
        {
          value: snapshot.value,
          status: snapshot.status,
          context: snapshot.context,
          children: Object.keys(snapshot.children ?? {}),
        },
        DETAIL_LIMITS,
      ),
      events: [...t.events],
      machine: machineGraph((t.ref as unknown as { logic: AnyActorLogic }).logic),
    }
  }

  /** Live actors per kind, for /metrics. */
  countsByKind(): Map<string, number> {
    const counts = new Map<string, number>()
    for (const t of this.byId.values())
      if (t.endedAt === null) counts.set(t.kind, (counts.get(t.kind) ?? 0) + 1)
    return counts
  }

  /** Transitions per second per kind over the last sampling second, for /metrics. */
  transitionRates(): Map<string, number> {
    return new Map(this.ratesByKind)
  }

  stop(): void {
    this.unsubscribe()
    clearTimeout(this.flushTimer)
    clearInterval(this.sweepTimer)
    this.subscribers.clear()
  }
}
