import { describe, expect, test } from 'bun:test'
import { createActor, SimulatedClock } from 'xstate'
import {
  type ChunkEvent,
  OpusChunk,
  REORDER_WINDOW,
  SILENCE_MS,
  type TransmissionEnded,
  type TransmissionStarted,
  transmissionIdFor,
  transmissionMachine,
} from '../../actors/transmission.machine.ts'

type Effect =
  | { kind: 'start'; params: TransmissionStarted }
  | { kind: 'chunk'; transmissionId: string; sequence: number }
  | { kind: 'end'; params: TransmissionEnded }

const T0 = Date.UTC(2026, 0, 3, 13, 15, 0)

/** The machine with recording effects, on a simulated clock. */
function harness() {
  const clock = new SimulatedClock()
  clock.set(T0)
  const effects: Effect[] = []
  const actor = createActor(
    transmissionMachine.provide({
      actions: {
        announceStart: (_, params) => effects.push({ kind: 'start', params }),
        deliverChunk: (_, params) =>
          effects.push({ kind: 'chunk', transmissionId: params.transmissionId, sequence: params.sequence }),
        announceEnd: (_, params) => effects.push({ kind: 'end', params }),
      },
    }),
    { input: { slot: 1 }, clock },
  ).start()
  const chunk = (sequence: number, over: Partial<ChunkEvent> = {}) =>
    actor.send({
      type: 'chunk',
      radioId: 2222001,
      talkgroupId: 1,
      sequence,
      chunk: new OpusChunk(new Uint8Array([0x0b, sequence & 0xff]), 'opus-packet', 4800),
      receivedAt: clock.now(),
      saveRecording: false,
      ...over,
    })
  const sequences = () => effects.flatMap((e) => (e.kind === 'chunk' ? [e.sequence] : []))
  return { clock, actor, effects, chunk, sequences, state: () => actor.getSnapshot().value }
}

test('transmission ids are r{radio}_tg{talkgroup}_{YYYYMMDDHHMMSS} in UTC', () => {
  expect(transmissionIdFor(2222001, 1, T0)).toBe('r2222001_tg1_20260103131500')
})

describe('transmission machine', () => {
  test('the first chunk starts a transmission; chunks flow in order', () => {
    const h = harness()
    expect(h.state()).toBe('idle')
    h.chunk(0, { timestamp: '2026-01-03T13:15:00', capturedAt: T0 })
    expect(h.state()).toBe('receiving')
    h.chunk(1)
    h.chunk(2)
    expect(h.effects[0]).toEqual({
      kind: 'start',
      params: {
        transmissionId: 'r2222001_tg1_20260103131500',
        slot: 1,
        radioId: 2222001,
        talkgroupId: 1,
        timestamp: '2026-01-03T13:15:00',
        startedAt: T0,
      },
    })
    expect(h.sequences()).toEqual([0, 1, 2])
    expect(h.actor.getSnapshot().context.transmission?.chunkCount).toBe(3)
  })

  test('5 s without a chunk ends it; each chunk restarts the 5 s', () => {
    const h = harness()
    h.chunk(0)
    h.clock.increment(SILENCE_MS - 1)
    h.chunk(1)
    h.clock.increment(SILENCE_MS - 1)
    expect(h.state()).toBe('receiving')
    h.clock.increment(1)
    expect(h.state()).toBe('ended')
    const end = h.effects.at(-1)
    expect(end?.kind).toBe('end')
    if (end?.kind !== 'end') throw new Error('no end')
    expect(end.params).toMatchObject({
      transmissionId: 'r2222001_tg1_20260103131500',
      chunkCount: 2,
      durationSamples: 9600,
      endedAt: T0 + SILENCE_MS - 1,
      saveRecording: false,
    })
    expect(h.actor.getSnapshot().context.transmission).toBeNull()
  })

  test('after the end, the next chunk starts a new transmission', () => {
    const h = harness()
    h.chunk(0)
    h.clock.increment(SILENCE_MS)
    h.clock.increment(3000)
    h.chunk(1)
    expect(h.state()).toBe('receiving')
    const starts = h.effects.filter((e) => e.kind === 'start')
    expect(starts.map((s) => s.params.transmissionId)).toEqual([
      'r2222001_tg1_20260103131500',
      'r2222001_tg1_20260103131508',
    ])
  })

  test('a chunk from another radio or talkgroup ends the current transmission and starts another', () => {
    const h = harness()
    h.chunk(0)
    h.clock.increment(1000)
    h.chunk(1, { radioId: 3333 })
    h.clock.increment(1000)
    h.chunk(2, { radioId: 3333, talkgroupId: 9 })
    expect(h.effects.map((e) => e.kind)).toEqual([
      'start',
      'chunk',
      'end',
      'start',
      'chunk',
      'end',
      'start',
      'chunk',
    ])
    const ids = h.effects.flatMap((e) => (e.kind === 'start' ? [e.params.transmissionId] : []))
    expect(ids).toEqual([
      'r2222001_tg1_20260103131500',
      'r3333_tg1_20260103131501',
      'r3333_tg9_20260103131502',
    ])
    expect(h.state()).toBe('receiving')
  })

  test('two transmissions that would share an id in the same second get distinct ids', () => {
    const h = harness()
    h.chunk(0)
    h.chunk(0, { radioId: 7 })
    h.chunk(0)
    const ids = h.effects.flatMap((e) => (e.kind === 'start' ? [e.params.transmissionId] : []))
    expect(ids).toEqual([
      'r2222001_tg1_20260103131500',
      'r7_tg1_20260103131500',
      'r2222001_tg1_20260103131500_2',
    ])
  })

  test('duplicates are acknowledged and not delivered again', () => {
    const h = harness()
    h.chunk(0)
    h.chunk(1)
    h.chunk(1)
    expect(h.actor.getSnapshot().context.lastOutcome).toBe('duplicate')
    h.chunk(0)
    h.chunk(2)
    expect(h.sequences()).toEqual([0, 1, 2])
    expect(h.actor.getSnapshot().context.transmission?.duplicates).toBe(2)
  })

  test('out-of-order chunks within the window are delivered in order', () => {
    const h = harness()
    h.chunk(0)
    h.chunk(2)
    h.chunk(3)
    expect(h.actor.getSnapshot().context.lastOutcome).toBe('held')
    expect(h.sequences()).toEqual([0])
    h.chunk(3) // a duplicate of a held chunk
    h.chunk(1)
    expect(h.sequences()).toEqual([0, 1, 2, 3])
  })

  test('a chunk that never comes is skipped once the window is full', () => {
    const h = harness()
    h.chunk(0)
    for (let s = 2; s <= REORDER_WINDOW + 2; s++) h.chunk(s)
    expect(h.sequences()).toEqual([0, ...Array.from({ length: REORDER_WINDOW + 1 }, (_, i) => i + 2)])
    h.chunk(1) // too late now: treated as a duplicate
    expect(h.sequences()).not.toContain(1)
  })

  test('held chunks are delivered before the transmission ends', () => {
    const h = harness()
    h.chunk(0)
    h.chunk(3)
    h.chunk(2)
    h.clock.increment(SILENCE_MS)
    expect(h.sequences()).toEqual([0, 2, 3])
    expect(h.effects.at(-1)?.kind).toBe('end')
  })

  test('a sequence far behind means the collector restarted: a new transmission', () => {
    const h = harness()
    for (let s = 100; s < 160; s++) h.chunk(s)
    h.chunk(0)
    expect(h.effects.filter((e) => e.kind === 'start')).toHaveLength(2)
    expect(h.sequences().at(-1)).toBe(0)
  })

  test('save_recording on any chunk saves the transmission; stop ends it at once', () => {
    const h = harness()
    h.chunk(0)
    h.chunk(1, { saveRecording: true })
    h.chunk(2)
    h.actor.send({ type: 'stop' })
    expect(h.state()).toBe('ended')
    const end = h.effects.at(-1)
    expect(end?.kind === 'end' && end.params.saveRecording).toBe(true)
  })

  test('the snapshot never carries audio bytes', () => {
    const h = harness()
    h.chunk(0)
    h.chunk(2)
    const json = JSON.stringify(h.actor.getSnapshot().context)
    expect(json).toContain('"format":"opus-packet"')
    expect(json).not.toContain('"data"')
  })
})
