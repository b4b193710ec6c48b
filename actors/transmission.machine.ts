/**
 * One DMR slot's transmissions: idle -> receiving -> ended (radio-ingest-and-listen.md, CONTRACT "Radio").
 *
 * The first chunk starts a transmission, chunks flow through it in sequence order, 5 s without a chunk
 * ends it, and a chunk from another radio or talkgroup ends it and starts the next. Pure: the server
 * provides `announceStart`, `deliverChunk` and `announceEnd` (fan-out, recording, history) with `.provide()`.
 */
import { setup } from 'xstate'

/** A transmission ends after this long without a chunk (the document's "5 seconds of inactivity"). */
export const SILENCE_MS = 5000
/** Out-of-order chunks held back waiting for a missing one; past this the gap is skipped. */
export const REORDER_WINDOW = 5
/** A sequence this far below the expected one means the collector restarted: a new transmission. */
export const RESTART_DISTANCE = 50
/** Transmission ids remembered per slot so two transmissions in the same second get distinct ids. */
const RECENT_IDS = 8

export type ChunkFormat = 'opus-packet' | 'ogg-opus'

/**
 * Opus data of one ingested chunk. Its JSON form leaves the bytes out, so snapshots, logs and the
 * inspector never carry audio.
 */
export class OpusChunk {
  constructor(
    readonly data: Uint8Array,
    readonly format: ChunkFormat,
    /** Audio in the chunk at 48 kHz. */
    readonly durationSamples: number,
  ) {}

  get size(): number {
    return this.data.byteLength
  }

  toJSON(): { format: ChunkFormat; size: number; durationSamples: number } {
    return { format: this.format, size: this.size, durationSamples: this.durationSamples }
  }
}

export interface ChunkEvent {
  type: 'chunk'
  radioId: number
  talkgroupId: number
  sequence: number
  chunk: OpusChunk
  /** The collector's `timestamp` as sent, when given. */
  timestamp?: string
  /** Epoch ms of `timestamp` (read as UTC when it has no zone), when given. */
  capturedAt?: number
  /** Epoch ms at which the server received the chunk. */
  receivedAt: number
  saveRecording: boolean
}

/** Ends the transmission in progress now (server shutdown). */
export interface StopEvent {
  type: 'stop'
}

/**
 * Continues from a context another instance kept (it owned the slot and died): a transmission in progress goes on,
 * with a new silence timer. Only a new actor takes it.
 */
export interface RestoreEvent {
  type: 'restore'
  context: TransmissionContext
}

export type TransmissionEvent = ChunkEvent | StopEvent | RestoreEvent

interface PendingChunk {
  sequence: number
  chunk: OpusChunk
}

export interface Transmission {
  transmissionId: string
  slot: number
  radioId: number
  talkgroupId: number
  /** The documented `timestamp` of transmission_start: the first chunk's, else the server's time. */
  timestamp: string
  /** Epoch ms the transmission started (first chunk's capture time, else its receive time). */
  startedAt: number
  firstReceivedAt: number
  lastReceivedAt: number
  /** The sequence the next in-order chunk must carry. */
  nextSequence: number
  /** Chunks that arrived ahead of a missing one, sorted by sequence. */
  pending: PendingChunk[]
  chunkCount: number
  duplicates: number
  durationSamples: number
  /** True once any chunk asked for `save_recording`. */
  saveRecording: boolean
}

export interface TransmissionContext {
  slot: number
  transmission: Transmission | null
  recentIds: string[]
  /** What happened to the last chunk, for the ingest reply. */
  lastOutcome: 'delivered' | 'held' | 'duplicate' | null
}

export interface TransmissionStarted {
  transmissionId: string
  slot: number
  radioId: number
  talkgroupId: number
  timestamp: string
  startedAt: number
}

export interface ChunkDelivery {
  transmissionId: string
  slot: number
  sequence: number
  chunk: OpusChunk
}

export interface TransmissionEnded extends TransmissionStarted {
  /** Epoch ms: the start plus the time between the first and the last chunk's arrival. */
  endedAt: number
  chunkCount: number
  duplicates: number
  durationSamples: number
  saveRecording: boolean
}

/** `r{radio_id}_tg{talkgroup_id}_{YYYYMMDDHHMMSS}` in UTC (CONTRACT). */
export function transmissionIdFor(radioId: number, talkgroupId: number, epochMs: number): string {
  const stamp = new Date(epochMs).toISOString().slice(0, 19).replace(/[-T:]/g, '')
  return `r${radioId}_tg${talkgroupId}_${stamp}`
}

function uniqueId(base: string, recent: string[]): string {
  if (!recent.includes(base)) return base
  let n = 2
  while (recent.includes(`${base}_${n}`)) n++
  return `${base}_${n}`
}

function startedOf(t: Transmission): TransmissionStarted {
  return {
    transmissionId: t.transmissionId,
    slot: t.slot,
    radioId: t.radioId,
    talkgroupId: t.talkgroupId,
    timestamp: t.timestamp,
    startedAt: t.startedAt,
  }
}

function endedOf(t: Transmission): TransmissionEnded {
  return {
    ...startedOf(t),
    endedAt: t.startedAt + (t.lastReceivedAt - t.firstReceivedAt),
    chunkCount: t.chunkCount,
    duplicates: t.duplicates,
    durationSamples: t.durationSamples,
    saveRecording: t.saveRecording,
  }
}

/** Places one chunk: delivered now (with any held chunks it unblocks), held for reordering, or a duplicate. */
export function placeChunk(
  t: Transmission,
  sequence: number,
  chunk: OpusChunk,
): { transmission: Transmission; deliver: PendingChunk[]; outcome: TransmissionContext['lastOutcome'] } {
  if (sequence < t.nextSequence || t.pending.some((p) => p.sequence === sequence)) {
    return { transmission: { ...t, duplicates: t.duplicates + 1 }, deliver: [], outcome: 'duplicate' }
  }
  let pending = [...t.pending, { sequence, chunk }].sort((a, b) => a.sequence - b.sequence)
  let next = t.nextSequence
  const deliver: PendingChunk[] = []
  const drain = () => {
    while (pending[0] && pending[0].sequence === next) {
      deliver.push(pending[0])
      pending = pending.slice(1)
      next++
    }
  }
  drain()
  // A chunk that never came: stop waiting for it once the window is full.
  while (pending.length > REORDER_WINDOW && pending[0]) {
    next = pending[0].sequence
    drain()
  }
  const delivered = {
    ...t,
    nextSequence: next,
    pending,
    chunkCount: t.chunkCount + deliver.length,
    durationSamples: t.durationSamples + deliver.reduce((sum, d) => sum + d.chunk.durationSamples, 0),
  }
  return { transmission: delivered, deliver, outcome: deliver.length > 0 ? 'delivered' : 'held' }
}

function newTransmission(slot: number, event: ChunkEvent, recentIds: string[]): Transmission {
  const startedAt = event.capturedAt ?? event.receivedAt
  return {
    transmissionId: uniqueId(transmissionIdFor(event.radioId, event.talkgroupId, startedAt), recentIds),
    slot,
    radioId: event.radioId,
    talkgroupId: event.talkgroupId,
    timestamp: event.timestamp ?? `${new Date(event.receivedAt).toISOString().slice(0, 19)}Z`,
    startedAt,
    firstReceivedAt: event.receivedAt,
    lastReceivedAt: event.receivedAt,
    nextSequence: event.sequence,
    pending: [],
    chunkCount: 0,
    duplicates: 0,
    durationSamples: 0,
    saveRecording: false,
  }
}

const transmissionSetup = setup({
  types: {
    context: {} as TransmissionContext,
    events: {} as TransmissionEvent,
    input: {} as { slot: number },
  },
  actions: {
    /** A transmission began: tell listeners, open the recording. */
    announceStart: (_, _params: TransmissionStarted) => {},
    /** A chunk is next in order: fan it out, add it to the recording. */
    deliverChunk: (_, _params: ChunkDelivery) => {},
    /** A transmission ended: tell listeners, keep the history row and recording. */
    announceEnd: (_, _params: TransmissionEnded) => {},
  },
  guards: {
    /** The restored context has a transmission in progress. */
    restoresTransmission: ({ event }) => event.type === 'restore' && event.context.transmission !== null,
    /** The chunk cannot continue the transmission in progress. */
    isNewSource: ({ context, event }) => {
      const t = context.transmission
      if (event.type !== 'chunk' || !t) return false
      return (
        event.radioId !== t.radioId ||
        event.talkgroupId !== t.talkgroupId ||
        event.sequence < t.nextSequence - RESTART_DISTANCE
      )
    },
  },
  delays: { silence: SILENCE_MS },
})

export const transmissionMachine = transmissionSetup
  .extend({
    actions: {
      begin: transmissionSetup.enqueueActions(({ context, event, enqueue }) => {
        if (event.type !== 'chunk') return
        const started = newTransmission(context.slot, event, context.recentIds)
        const placed = placeChunk(started, event.sequence, event.chunk)
        const transmission = { ...placed.transmission, saveRecording: event.saveRecording }
        enqueue.assign({
          transmission,
          recentIds: [...context.recentIds, transmission.transmissionId].slice(-RECENT_IDS),
          lastOutcome: placed.outcome,
        })
        enqueue({ type: 'announceStart', params: startedOf(transmission) })
        for (const d of placed.deliver) {
          enqueue({
            type: 'deliverChunk',
            params: { ...d, transmissionId: transmission.transmissionId, slot: context.slot },
          })
        }
      }),
      accept: transmissionSetup.enqueueActions(({ context, event, enqueue }) => {
        const t = context.transmission
        if (event.type !== 'chunk' || !t) return
        const placed = placeChunk(t, event.sequence, event.chunk)
        enqueue.assign({
          transmission: {
            ...placed.transmission,
            lastReceivedAt: event.receivedAt,
            saveRecording: t.saveRecording || event.saveRecording,
          },
          lastOutcome: placed.outcome,
        })
        for (const d of placed.deliver) {
          enqueue({
            type: 'deliverChunk',
            params: { ...d, transmissionId: t.transmissionId, slot: context.slot },
          })
        }
      }),
      restore: transmissionSetup.assign(({ context, event }) =>
        event.type === 'restore' ? { ...event.context, slot: context.slot } : {},
      ),
      finish: transmissionSetup.enqueueActions(({ context, enqueue }) => {
        const t = context.transmission
        if (!t) return
        // Chunks still held for reordering are played in order before the end.
        for (const d of t.pending) {
          enqueue({
            type: 'deliverChunk',
            params: { ...d, transmissionId: t.transmissionId, slot: context.slot },
          })
        }
        const flushed = {
          ...t,
          pending: [],
          chunkCount: t.chunkCount + t.pending.length,
          durationSamples: t.durationSamples + t.pending.reduce((sum, d) => sum + d.chunk.durationSamples, 0),
        }
        enqueue({ type: 'announceEnd', params: endedOf(flushed) })
        enqueue.assign({ transmission: null })
      }),
    },
  })
  .createMachine({
    id: 'transmission',
    context: ({ input }) => ({ slot: input.slot, transmission: null, recentIds: [], lastOutcome: null }),
    initial: 'idle',
    states: {
      idle: {
        on: {
          chunk: { target: 'receiving', actions: 'begin' },
          restore: [
            { guard: 'restoresTransmission', target: 'receiving', actions: 'restore' },
            { actions: 'restore' },
          ],
        },
      },
      receiving: {
        after: { silence: { target: 'ended', actions: 'finish' } },
        on: {
          chunk: [
            { guard: 'isNewSource', target: 'receiving', reenter: true, actions: ['finish', 'begin'] },
            { target: 'receiving', reenter: true, actions: 'accept' },
          ],
          stop: { target: 'ended', actions: 'finish' },
        },
      },
      ended: { on: { chunk: { target: 'receiving', actions: 'begin' } } },
    },
  })
