/**
 * How radio work crosses instances (GUIDE principle 13): ingested chunks reach the slot's one owner, and every
 * channel's events reach every instance's listeners under the same ids. `LocalRadioBus` is a single node: chunks go
 * straight to this instance's slot actor and events straight to its channels. `RedisRadioBus` (redis-bus.ts) is the
 * cluster. The radio service never knows which it has.
 */
import type { ChunkFormat } from '../../actors/transmission.machine.ts'
import type { ChannelScope } from './channel.ts'
import type { RadioEvent } from './events.ts'
import type { IngestRequest } from './model.ts'

/** An ingested chunk, checked and classified, on its way to the slot's owner. */
export interface QueuedChunk extends IngestRequest {
  format: ChunkFormat
  durationSamples: number
  /** Epoch ms the chunk reached the instance that took it. */
  receivedAt: number
}

export interface IngestOutcome {
  /** Null when another instance owns the slot: the chunk is queued for it, and the answer is not known here. */
  duplicate: boolean | null
  transmissionId: string | null
}

/** What the slot's owner hands over with a slot's events, so that a successor can continue where it stopped. */
export interface SlotCommit {
  slot: number
  /** The ingest entry whose processing made these events, when one did (the successor resumes after it). */
  ingestId?: string
  /** The slot actor's context after them (slot-state.ts); read once per write, the last one of a batch. */
  state: () => string
  /** Chunks added to recordings in progress, by transmission id (slot-state.ts's text). */
  recorded: Array<[transmissionId: string, chunk: string]>
  /** Transmissions whose recordings were finished. */
  ended: string[]
}

/** What a bus calls back into: this instance's radio. */
export interface RadioNode {
  /** Runs the slot actor on `chunk` (this instance owns the slot, or works alone); its events come back via `publish`. */
  process(chunk: QueuedChunk, ingestId?: string): IngestOutcome
  /** Hands `event` to this instance's channel for `scope` under the cluster's id. */
  receive(scope: ChannelScope, id: number, event: RadioEvent): void
  /** Publishes `events` on this instance only, under its own ids (a single node, or cut off from the cluster). */
  appendLocal(scope: ChannelScope, events: readonly RadioEvent[]): void
  /** The newest event id this instance has for `scope`. */
  lastEventId(scope: ChannelScope): number
  /** This instance now owns `slot`: start its actor from `state` (null: idle), recordings from `recorded`. */
  takeOver(slot: number, state: string | null, recorded: Array<[string, string]>): void
  /** The cluster's events reach this instance again after an outage: forget what it thought was in progress. */
  resync(): void
  /** This instance no longer owns `slot`. */
  giveUp(slot: number): void
}

export interface RadioBus {
  /** Starts delivering to `node`. */
  start(node: RadioNode): void
  /** Sends a chunk to its slot's owner; resolves once no instance's death can lose it. */
  submit(chunk: QueuedChunk): Promise<IngestOutcome>
  /** Publishes events that happened on this instance: a slot's (with its commit, from the owner) or a system's. */
  publish(scope: ChannelScope, events: readonly RadioEvent[], commit?: SlotCommit): void
  /** True when the slot should be handed over rather than ended at shutdown (another instance can continue it). */
  readonly handsOverAtShutdown: boolean
  close(): Promise<void>
}

export class LocalRadioBus implements RadioBus {
  readonly handsOverAtShutdown = false
  private node: RadioNode | undefined

  start(node: RadioNode): void {
    this.node = node
  }

  async submit(chunk: QueuedChunk): Promise<IngestOutcome> {
    return this.started().process(chunk)
  }

  publish(scope: ChannelScope, events: readonly RadioEvent[]): void {
    this.started().appendLocal(scope, events)
  }

  async close(): Promise<void> {}

  private started(): RadioNode {
    if (!this.node) throw new Error('the radio bus was not started')
    return this.node
  }
}
