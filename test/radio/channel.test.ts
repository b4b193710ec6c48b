import { expect, test } from 'bun:test'
import { OpusChunk } from '../../actors/transmission.machine.ts'
import { type SseCloseReason, SseRegistry } from '../../src/http/sse.ts'
import { RadioChannel } from '../../src/radio/channel.ts'
import { chunkEvent, startEvent } from '../../src/radio/events.ts'

const started = {
  transmissionId: 'r1_tg2_20260103131500',
  slot: 1,
  radioId: 1,
  talkgroupId: 2,
  timestamp: '2026-01-03T13:15:00',
  startedAt: 0,
}
const startData = {
  transmission_id: started.transmissionId,
  slot: started.slot,
  radio_id: started.radioId,
  talkgroup_id: started.talkgroupId,
  timestamp: started.timestamp,
}
const opus = (sequence: number, size = 100) =>
  new OpusChunk(new Uint8Array(size).fill(sequence & 0xff), 'opus-packet', 4800)

/** A listener on a real SseStream whose body this test reads (or not, to play a slow client). */
function listener(
  registry: SseRegistry,
  channel: RadioChannel,
  options: { lastEventId?: number; maxQueuedBytes?: number; talkgroups?: ReadonlySet<number> } = {},
) {
  const abort = new AbortController()
  const closes: SseCloseReason[] = []
  const stream = registry.open(new Request('http://localhost/listen', { signal: abort.signal }), {
    maxQueuedBytes: options.maxQueuedBytes ?? 64 * 1024,
    onClose: (reason) => {
      closes.push(reason)
      channel.detach(stream)
    },
  })
  channel.attach(stream, options.lastEventId, options.talkgroups ?? null)
  const reader = stream.response.body?.getReader()
  let text = ''
  const read = async (until: (text: string) => boolean) => {
    while (!until(text)) {
      const part = await reader?.read()
      if (!part || part.done) break
      text += new TextDecoder().decode(part.value)
    }
    return text
  }
  const events = () => [...text.matchAll(/^event: (.+)$/gm)].map((m) => m[1])
  const ids = () => [...text.matchAll(/^id: (\d+)$/gm)].map((m) => Number(m[1]))
  return { stream, closes, read, events, ids, abort }
}

const limits = { ringEvents: 8, ringBytes: 64 * 1024, keepaliveMs: 20, listenTimeoutMs: 0 }

test('keepalive events go to every listener with the newest id, and stop with the last listener', async () => {
  const registry = new SseRegistry()
  const channel = new RadioChannel({ slot: 1 }, limits)
  const a = listener(registry, channel)
  const b = listener(registry, channel)
  for (const l of [a, b]) {
    const text = await l.read((t) => t.includes('event: keepalive'))
    expect(text).toMatch(/id: \d+\nevent: keepalive\ndata: \{"timestamp":\d{10}\}\n\n/)
    expect(new Set(l.ids())).toEqual(new Set([channel.lastEventId]))
  }
  registry.closeAll()
  expect(channel.listenerCount).toBe(0)
  channel.close()
})

test('the ring replays what it holds after Last-Event-ID; a start evicted from it is sent first', async () => {
  const registry = new SseRegistry()
  const channel = new RadioChannel({ slot: 1 }, { ...limits, keepaliveMs: 60_000 })
  const before = channel.lastEventId
  channel.append([startEvent(started.transmissionId, startData)])
  for (let s = 0; s < 20; s++) channel.append([chunkEvent(started.transmissionId, s, opus(s))])
  expect(channel.heldEventIds.count).toBe(8)

  const resumed = listener(registry, channel, { lastEventId: channel.lastEventId - 3 })
  await resumed.read((t) => (t.match(/event: audio_chunk/g) ?? []).length === 3)
  expect(resumed.events()).toEqual(['connected', 'audio_chunk', 'audio_chunk', 'audio_chunk'])

  // Further behind than the ring: gets the start it missed, then everything still held.
  const behind = listener(registry, channel, { lastEventId: before })
  await behind.read((t) => (t.match(/event: audio_chunk/g) ?? []).length === 8)
  expect(behind.events()).toEqual(['connected', 'transmission_start', ...Array(8).fill('audio_chunk')])
  expect(behind.ids().slice(1)).toEqual([
    before + 1,
    ...Array.from({ length: 8 }, (_, i) => channel.lastEventId - 7 + i),
  ])
  registry.closeAll()
  channel.close()
})

test('a slow listener is cut off at its bound; the others get every event', async () => {
  const registry = new SseRegistry()
  const channel = new RadioChannel({ slot: 1 }, { ...limits, keepaliveMs: 60_000 })
  const slow = listener(registry, channel, { maxQueuedBytes: 8 * 1024 })
  const fast = listener(registry, channel)
  channel.append([startEvent(started.transmissionId, startData)])
  const seen: number[] = []
  for (let s = 0; s < 100; s++) {
    channel.append([chunkEvent(started.transmissionId, s, opus(s, 200))])
    // The fast one reads as it goes; the slow one never reads.
    const text = await fast.read((t) => t.includes(`"sequence":${s},`))
    seen.push(
      ...[...text.matchAll(/"sequence":(\d+),/g)].map((m) => Number(m[1])).filter((n) => !seen.includes(n)),
    )
  }
  expect(slow.closes).toEqual(['too-slow'])
  expect(slow.stream.isOpen).toBe(false)
  expect(fast.stream.isOpen).toBe(true)
  expect(seen).toEqual(Array.from({ length: 100 }, (_, i) => i))
  expect(channel.listenerCount).toBe(1)
  registry.closeAll()
  channel.close()
})

test('a listener that leaves is detached at once', async () => {
  const registry = new SseRegistry()
  const channel = new RadioChannel({ slot: 2 }, { ...limits, keepaliveMs: 60_000 })
  const l = listener(registry, channel)
  expect(channel.listenerCount).toBe(1)
  l.abort.abort()
  expect(l.closes).toEqual(['client-gone'])
  expect(channel.listenerCount).toBe(0)
  channel.close()
})

test('events published in one turn reach each listener once, in order, even when a listener joins mid-turn', async () => {
  const registry = new SseRegistry()
  const channel = new RadioChannel({ slot: 1 }, { ...limits, ringEvents: 64, keepaliveMs: 60_000 })
  const early = listener(registry, channel)
  channel.append([startEvent(started.transmissionId, startData)])
  const resumeAfter = channel.lastEventId
  for (let s = 0; s < 3; s++) channel.append([chunkEvent(started.transmissionId, s, opus(s))])
  // Joins before the turn ends: the three chunks are in the ring but not yet written to `early`.
  const resumed = listener(registry, channel, { lastEventId: resumeAfter })
  for (let s = 3; s < 6; s++) channel.append([chunkEvent(started.transmissionId, s, opus(s))])
  const sequences = (text: string) => [...text.matchAll(/"sequence":(\d+)/g)].map((m) => Number(m[1]))
  const allSix = (t: string) => sequences(t).length >= 6
  expect(sequences(await early.read(allSix))).toEqual([0, 1, 2, 3, 4, 5])
  expect(sequences(await resumed.read(allSix))).toEqual([0, 1, 2, 3, 4, 5])
  // Nothing else follows: no chunk was written twice.
  await Bun.sleep(20)
  registry.closeAll()
  expect(sequences(await early.read(() => false))).toEqual([0, 1, 2, 3, 4, 5])
  expect(sequences(await resumed.read(() => false))).toEqual([0, 1, 2, 3, 4, 5])
  channel.close()
})
