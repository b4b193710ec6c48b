import type { Server } from 'bun'
import type { ActorRefFrom } from 'xstate'
import {
  type ChunkDelivery,
  OpusChunk,
  type TransmissionEnded,
  type TransmissionStarted,
  transmissionMachine,
} from '../../actors/transmission.machine.ts'
import type { Config } from '../config.ts'
import { encodeSseEvent, type SseRegistry } from '../http/sse.ts'
import { type ApiKeyService, keyCheckFailure } from '../identity/api-keys.ts'
import type { ActorRegistry } from '../platform/actors/registry.ts'
import type { Db } from '../platform/db/index.ts'
import { AppError, BadRequestError, RateLimitedError, UnauthorizedError } from '../platform/errors.ts'
import { classifyChunk } from '../platform/native.ts'
import type { RateLimiter, RateLimits } from '../platform/rate-limit.ts'
import type { BlobStore } from '../platform/storage/blob-store.ts'
import type { IngestOutcome, QueuedChunk, RadioBus, RadioNode, SlotCommit } from './bus.ts'
import { type ChannelScope, RadioChannel } from './channel.ts'
import { chunkEvent, endEvent, type RadioEvent, startEvent } from './events.ts'
import { DEFAULT_HISTORY_LIMITS, type HistoryLimits, TransmissionHistory } from './history.ts'
import { traceHop, tracingHops } from './hop-trace.ts'
import type { ChannelListeners, ListenerTally } from './listener-tally.ts'
import { radioMetrics } from './metrics.ts'
import { type IngestRequest, SLOTS } from './model.ts'
import { RecordingWriter } from './recording.ts'
import {
  recordedChunkFromText,
  recordedChunkToText,
  slotStateFromText,
  slotStateToText,
} from './slot-state.ts'

/** Events each slot keeps for Last-Event-ID replay: 50 chunks (5 s at 10 chunks/s) plus transmission boundaries. */
export const RING_EVENTS = 64
/** Byte budget of each slot's ring (64 events of the largest chunk fit). */
export const RING_BYTES = 8 * 1024 * 1024
export const KEEPALIVE_MS = 15_000
/** Unsent bytes a listener may fall behind by (about a minute of one slot) before it is disconnected. */
export const LISTENER_MAX_QUEUED_BYTES = 256 * 1024
/** How long a verified ingest key is trusted without asking the database again. */
export const KEY_CACHE_MS = 30_000
const KEY_CACHE_ENTRIES = 1000

export const TRANSMISSION_KIND = 'transmission'
/** Events a scanner system's channel keeps for replay: several whole calls (a 10 s call is 102 events). */
export const SYSTEM_RING_EVENTS = 1024
/** Scanner systems with a live channel; a listener or call for one more is refused. */
export const MAX_SYSTEM_CHANNELS = 256

/** What `GET /api/v1/stream-listen` asks for: a slot, or a scanner system and (optionally) some of its talkgroups. */
export type ListenTarget =
  | { slot: string | undefined }
  | { system: number; talkgroups: ReadonlySet<number> | null }

export interface RadioDeps {
  config: Config
  registry: ActorRegistry
  sse: SseRegistry
  db: Db
  blobs: BlobStore
  apiKeys: ApiKeyService
  rateLimits: RateLimits
  /** Where chunks go to their slot's owner and events to every instance (bus.ts). */
  bus: RadioBus
  /** Listener counts: this instance's, or the cluster's (listener-tally.ts). */
  tally: ListenerTally
  historyLimits?: HistoryLimits
}

/** What one slot actor turn produced, gathered so the owner hands it over in one step (bus.ts `SlotCommit`). */
interface SlotTurn {
  events: RadioEvent[]
  recorded: Array<[string, string]>
  ended: string[]
}

type TransmissionActor = ActorRefFrom<typeof transmissionMachine>

/**
 * Live radio: one transmission actor per slot (via the registry) decides what each chunk means; its effects
 * feed the slot's channel (SSE fan-out and replay ring), the transmission's recording, and the history.
 */
export class RadioService implements RadioNode {
  readonly history: TransmissionHistory
  readonly ingestLimiter: RateLimiter
  private readonly channels = new Map<number, RadioChannel>()
  private readonly systemChannels = new Map<number, RadioChannel>()
  /** Recordings in progress, by transmission id, with their slot. */
  private readonly recordings = new Map<string, { slot: number; writer: RecordingWriter }>()
  private readonly keyCache = new Map<string, { name: string; expiresAt: number }>()
  /** The slot actor turn in progress (`process`); effects outside one (the silence timer) are published at once. */
  private turn: SlotTurn | null = null

  constructor(private readonly deps: RadioDeps) {
    const { config } = deps
    this.history = new TransmissionHistory(deps.db, deps.blobs, deps.historyLimits ?? DEFAULT_HISTORY_LIMITS)
    this.ingestLimiter = deps.rateLimits.create({
      name: 'ingest',
      points: config.ingestRateLimit,
      windowSeconds: 60,
    })
    for (const slot of SLOTS) {
      this.channels.set(
        slot,
        new RadioChannel(
          { slot },
          {
            ringEvents: RING_EVENTS,
            ringBytes: RING_BYTES,
            keepaliveMs: KEEPALIVE_MS,
            listenTimeoutMs: config.listenTimeoutS * 1000,
          },
        ),
      )
    }
    deps.tally.share(() => this.ownChannelListeners())
    deps.registry.define(
      TRANSMISSION_KIND,
      transmissionMachine.provide({
        actions: {
          announceStart: (_, started) => this.onStart(started),
          deliverChunk: (_, delivery) => this.onChunk(delivery),
          announceEnd: (_, ended) => this.onEnd(ended),
        },
      }),
      {
        onShutdown: async (actor) => {
          // In a cluster another instance continues the transmission; alone, it ends here.
          if (!deps.bus.handsOverAtShutdown) actor.send({ type: 'stop' })
          await this.history.drain(4000)
        },
      },
    )
    // Both slots exist from the start, so the inspector shows them idle.
    for (const slot of SLOTS) this.actor(slot)
    deps.bus.start(this)
  }

  channel(slot: number): RadioChannel {
    const channel = this.channels.get(slot)
    if (!channel) throw new BadRequestError('Invalid slot: must be 1 or 2', 'INVALID_SLOT')
    return channel
  }

  /** Counts one ingest request for `ip`; the document's 429 message, with Retry-After. */
  async limit(ip: string): Promise<void> {
    try {
      await this.ingestLimiter.consume(ip)
    } catch (err) {
      if (err instanceof RateLimitedError)
        throw new AppError(429, err.code, 'Rate limit exceeded', err.headers)
      throw err
    }
  }

  /** The key's name for `Authorization: Bearer <key>`; 401 otherwise. Verified keys are cached briefly. */
  async authorize(authorization: string | null): Promise<string> {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '')
    if (!match?.[1])
      throw new UnauthorizedError('Missing API key: send Authorization: Bearer <key>', 'MISSING_API_KEY')
    const key = match[1]
    const now = Date.now()
    const cached = this.keyCache.get(key)
    if (cached && cached.expiresAt > now) return cached.name
    let name: string | null
    try {
      name = await this.deps.apiKeys.verify(key)
    } catch (err) {
      throw keyCheckFailure(err)
    }
    if (!name) throw new UnauthorizedError('Invalid API key', 'INVALID_API_KEY')
    if (this.keyCache.size >= KEY_CACHE_ENTRIES) this.keyCache.clear()
    this.keyCache.set(key, { name, expiresAt: now + KEY_CACHE_MS })
    return name
  }

  /** Checks the chunk is Opus (raw packet or Ogg Opus) and hands it to the slot's owner. */
  ingest(request: IngestRequest): Promise<IngestOutcome> {
    const classified = classifyChunk(request.chunkData)
    if (classified.kind === 'neither') {
      throw new BadRequestError(
        `Invalid field: chunk_data is not Opus audio (${classified.reason})`,
        classified.code ?? 'INVALID_CHUNK',
      )
    }
    if (tracingHops) traceHop('post', request.slot, request.sequence)
    return this.deps.bus.submit({
      ...request,
      format: classified.kind,
      durationSamples: classified.durationSamples,
      receivedAt: Date.now(),
    })
  }

  /** Runs the slot actor on `chunk` and publishes what it did, with the state a successor would continue from. */
  process(chunk: QueuedChunk, ingestId?: string): IngestOutcome {
    const actor = this.actor(chunk.slot)
    const turn: SlotTurn = { events: [], recorded: [], ended: [] }
    this.turn = turn
    try {
      actor.send({
        type: 'chunk',
        radioId: chunk.radioId,
        talkgroupId: chunk.talkgroupId,
        sequence: chunk.sequence,
        chunk: new OpusChunk(chunk.chunkData, chunk.format, chunk.durationSamples),
        timestamp: chunk.timestamp,
        capturedAt: chunk.capturedAt,
        receivedAt: chunk.receivedAt,
        saveRecording: chunk.saveRecording,
      })
    } finally {
      this.turn = null
    }
    const { lastOutcome, transmission } = actor.getSnapshot().context
    this.publishTurn(chunk.slot, turn, ingestId)
    radioMetrics.chunksReceived.inc({ slot: String(chunk.slot), outcome: lastOutcome ?? 'delivered' })
    return { duplicate: lastOutcome === 'duplicate', transmissionId: transmission?.transmissionId ?? null }
  }

  /** Publishes a scanner call's events on its system's channel, in every instance. */
  publishCall(system: number, events: readonly RadioEvent[]): void {
    this.deps.bus.publish({ system }, events)
  }

  receive(scope: ChannelScope, id: number, event: RadioEvent): void {
    this.channelFor(scope)?.receive(id, event)
  }

  appendLocal(scope: ChannelScope, events: readonly RadioEvent[]): void {
    this.channelFor(scope)?.append(events)
  }

  lastEventId(scope: ChannelScope): number {
    return this.channelFor(scope)?.lastEventId ?? Date.now()
  }

  /** Starts the slot's actor over from `state` (what the previous owner left), with its recordings in progress. */
  takeOver(slot: number, state: string | null, recorded: Array<[string, string]>): void {
    this.deps.registry.stop(TRANSMISSION_KIND, `slot${slot}`)
    const actor = this.actor(slot)
    if (!state) return
    const context = slotStateFromText(state)
    actor.send({ type: 'restore', context })
    const current = context.transmission?.transmissionId
    if (!current) return
    const writer = new RecordingWriter(current)
    for (const [transmissionId, chunk] of recorded) {
      if (transmissionId === current) writer.add(recordedChunkFromText(chunk))
    }
    this.recordings.set(current, { slot, writer })
  }

  resync(): void {
    for (const channel of [...this.channels.values(), ...this.systemChannels.values()])
      channel.forgetCurrent()
  }

  /** Another instance owns the slot now: this one's actor and recordings of it are stale. */
  giveUp(slot: number): void {
    for (const [transmissionId, recording] of this.recordings) {
      if (recording.slot === slot) this.recordings.delete(transmissionId)
    }
    this.deps.registry.stop(TRANSMISSION_KIND, `slot${slot}`)
    this.actor(slot)
  }

  private channelFor(scope: ChannelScope): RadioChannel | null {
    return 'slot' in scope ? (this.channels.get(scope.slot) ?? null) : this.systemChannel(scope.system)
  }

  /** A scanner system's live channel (made on first use), or null past MAX_SYSTEM_CHANNELS. */
  systemChannel(system: number): RadioChannel | null {
    let channel = this.systemChannels.get(system)
    if (channel) return channel
    if (this.systemChannels.size >= MAX_SYSTEM_CHANNELS) return null
    channel = new RadioChannel(
      { system },
      {
        ringEvents: SYSTEM_RING_EVENTS,
        ringBytes: RING_BYTES,
        keepaliveMs: KEEPALIVE_MS,
        listenTimeoutMs: this.deps.config.listenTimeoutS * 1000,
      },
    )
    this.systemChannels.set(system, channel)
    return channel
  }

  /** Every live channel and how many listen to it in the cluster: both slots, then the systems that have a channel. */
  channelListeners(): Promise<ChannelListeners[]> {
    return this.deps.tally.total(this.ownChannelListeners())
  }

  /** This instance's own listeners per channel. */
  private ownChannelListeners(): ChannelListeners[] {
    return [...this.channels.values(), ...this.systemChannels.values()].map((c) => ({
      ...c.scope,
      listeners: c.listenerCount,
    }))
  }

  /** Opens an SSE listener on a slot or a system's talkgroups, resuming after Last-Event-ID when given. */
  listen(request: Request, server: Server<unknown> | null, target: ListenTarget): Response {
    const channel =
      'system' in target ? this.systemChannel(target.system) : this.channels.get(Number(target.slot))
    const stream = this.deps.sse.open(
      request,
      {
        maxQueuedBytes: LISTENER_MAX_QUEUED_BYTES,
        onClose: (reason) => {
          channel?.detach(stream)
          if (reason === 'too-slow') radioMetrics.slowListenersDisconnected.inc()
        },
      },
      server,
    )
    if (!channel) {
      const error = 'system' in target ? 'Too many systems are being listened to' : 'Invalid slot'
      stream.sendRaw(encodeSseEvent({ id: '0', event: 'error', data: { error } }))
      stream.close()
      return stream.response
    }
    const header = request.headers.get('last-event-id')?.trim()
    channel.attach(
      stream,
      header && /^\d{1,16}$/.test(header) ? Number(header) : undefined,
      'system' in target ? target.talkgroups : null,
    )
    return stream.response
  }

  /** Stops history retries and channel timers; runs after the registry let each slot actor end and persist. */
  async close(): Promise<void> {
    await this.deps.tally.close()
    await this.deps.bus.close()
    this.history.stop()
    for (const channel of [...this.channels.values(), ...this.systemChannels.values()]) channel.close()
  }

  private actor(slot: number): TransmissionActor {
    return this.deps.registry.getOrSpawn<typeof transmissionMachine>(TRANSMISSION_KIND, `slot${slot}`, {
      slot,
    })
  }

  /** Publishes a slot actor turn's events with the commit a successor continues from (bus.ts). */
  private publishTurn(slot: number, turn: SlotTurn, ingestId?: string): void {
    const commit: SlotCommit = {
      slot,
      ingestId,
      state: () => slotStateToText(this.actor(slot).getSnapshot().context),
      recorded: turn.recorded,
      ended: turn.ended,
    }
    this.deps.bus.publish({ slot }, turn.events, commit)
  }

  /** Gathers an effect into the turn in progress; one from a timer is a turn of its own. */
  private effect(slot: number, record: (turn: SlotTurn) => void): void {
    if (this.turn) {
      record(this.turn)
      return
    }
    const turn: SlotTurn = { events: [], recorded: [], ended: [] }
    record(turn)
    this.publishTurn(slot, turn)
  }

  private onStart(started: TransmissionStarted): void {
    this.recordings.set(started.transmissionId, {
      slot: started.slot,
      writer: new RecordingWriter(started.transmissionId),
    })
    const event = startEvent(started.transmissionId, {
      transmission_id: started.transmissionId,
      slot: started.slot,
      radio_id: started.radioId,
      talkgroup_id: started.talkgroupId,
      timestamp: started.timestamp,
    })
    this.effect(started.slot, (turn) => turn.events.push(event))
  }

  private onChunk(delivery: ChunkDelivery): void {
    const event = chunkEvent(delivery.transmissionId, delivery.sequence, delivery.chunk)
    this.recordings.get(delivery.transmissionId)?.writer.add(delivery.chunk)
    this.effect(delivery.slot, (turn) => {
      turn.events.push(event)
      turn.recorded.push([delivery.transmissionId, recordedChunkToText(delivery.chunk)])
    })
  }

  private onEnd(ended: TransmissionEnded): void {
    const writer = this.recordings.get(ended.transmissionId)?.writer
    this.recordings.delete(ended.transmissionId)
    this.history.record(ended, ended.saveRecording ? (writer?.finish() ?? null) : null)
    this.effect(ended.slot, (turn) => {
      turn.events.push(endEvent(ended.transmissionId))
      turn.ended.push(ended.transmissionId)
    })
  }
}
