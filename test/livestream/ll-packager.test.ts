import { describe, expect, test } from 'bun:test'
import { LlPackager } from '../../src/livestream/ll-packager.ts'
import { avInit, avPart, ftyp, mdat, moof, moov, SYNC } from '../support/mp4.ts'

const T0 = Date.UTC(2026, 0, 1)

/** A packager in run 1 that has read the init segment. */
function packager(options: { maxSegments?: number; maxWaiters?: number } = {}) {
  const p = new LlPackager({
    segmentSeconds: 2,
    partTarget: 0.234,
    maxSegments: options.maxSegments ?? 4,
    maxWaiters: options.maxWaiters ?? 10,
  })
  p.beginRun(1, T0)
  p.push(1, avInit())
  return p
}

/** Parts 0..n-1 of a run, a keyframe every `gop` parts. */
function feed(p: LlPackager, run: number, n: number, gop = 10, from = 0) {
  for (let i = from; i < from + n; i++) p.push(run, avPart(i, i % gop === 0))
}

const never = new AbortController().signal

describe('parts and segments', () => {
  test('a part is listed only once its mdat is complete', () => {
    const p = packager()
    const part = avPart(0, true)
    p.push(1, part.subarray(0, part.byteLength - 1))
    expect(p.view().segments).toEqual([])
    p.push(1, part.subarray(part.byteLength - 1))
    const [segment] = p.view().segments
    expect(segment?.parts.map((x) => x.number)).toEqual([0])
    expect(Buffer.from(segment?.parts[0]?.bytes as Uint8Array).equals(part)).toBe(true)
  })

  test('a segment per GOP: independent parts start one; a segment is its parts and their durations', () => {
    const p = packager()
    feed(p, 1, 25)
    const { segments } = p.view()
    expect(segments.map((s) => [s.msn, s.parts.length, s.complete])).toEqual([
      [0, 10, true],
      [1, 10, true],
      [2, 5, false],
    ])
    for (const s of segments) {
      expect(s.parts.map((x) => x.independent)).toEqual(s.parts.map((_, i) => i === 0))
      expect(s.duration).toBeCloseTo(
        s.parts.reduce((sum, x) => sum + x.duration, 0),
        9,
      )
      expect(s.parts.every((x) => x.duration === 0.2)).toBe(true)
      expect(s.init).toBe(0)
    }
    // Program date times run with the media from the run's start.
    expect(segments.map((s) => s.programDateTime - T0)).toEqual([0, 2000, 4000])
    expect(p.view().nextPart).toBe(25)
    expect(p.lastMsn).toBe(2)
  })

  test('a keyframe before the segment is nearly full joins it; audio only (every part independent) makes 2 s segments', () => {
    const p = packager()
    // Keyframes every 5 parts (1 s): the segment takes two GOPs.
    feed(p, 1, 25, 5)
    expect(p.view().segments.map((s) => s.parts.length)).toEqual([10, 10, 5])
    const audio = new LlPackager({ segmentSeconds: 2, partTarget: 0.234, maxSegments: 4, maxWaiters: 1 })
    audio.beginRun(1, T0)
    audio.push(1, Buffer.concat([ftyp(), moov([{ id: 2, timescale: 48000, handler: 'soun' }])]))
    for (let i = 0; i < 25; i++)
      audio.push(
        1,
        Buffer.concat([
          moof(i + 1, [
            { trackId: 2, baseDecodeTime: i * 9600, durations: Array(9).fill(1024 + 43), tfhdFlags: SYNC },
          ]),
          mdat(),
        ]),
      )
    const { segments } = audio.view()
    expect(segments.map((s) => s.parts.length)).toEqual([10, 10, 5])
    expect(segments[0]?.parts.every((part) => part.independent)).toBe(true)
  })

  test('the window keeps maxSegments complete segments; older parts and unused inits are dropped', () => {
    const p = packager({ maxSegments: 2 })
    feed(p, 1, 45)
    expect(p.view().segments.map((s) => s.msn)).toEqual([2, 3, 4])
    expect(p.part(19)).toBeUndefined()
    expect(p.part(20)?.number).toBe(20)
    expect(p.segment(1)).toBeUndefined()
    expect(p.segment(3)?.msn).toBe(3)
    // Segment 4 is still growing: not served as a segment yet.
    expect(p.segment(4)).toBeUndefined()
    expect(p.init(0)).toBeDefined()
  })

  test('a new run: the open segment closes, bytes of the old run are ignored, a discontinuity and a new init follow', () => {
    const p = packager({ maxSegments: 2 })
    feed(p, 1, 15)
    p.beginRun(2, T0 + 1000)
    // A killed FFmpeg's last bytes arrive late.
    p.push(1, avPart(15, false))
    p.push(2, avInit())
    feed(p, 2, 12)
    const { segments } = p.view()
    expect(segments.map((s) => [s.msn, s.parts.length, s.discontinuity, s.init])).toEqual(
      [
        [0, 10, false, 0],
        [1, 5, false, 0],
        [2, 10, true, 1],
        [3, 2, false, 1],
      ].slice(-3),
    )
    // Program date times never go back: run 2 starts where run 1's media ended (3 s), not at its spawn time.
    expect((segments.at(-2)?.programDateTime as number) - T0).toBe(3000)
    expect(p.view().nextPart).toBe(27)
    // Dropping the first discontinuity's predecessor keeps the sequence; dropping the discontinuity counts it.
    feed(p, 2, 20, 10, 12)
    expect(p.view().segments[0]?.msn).toBe(3)
    expect(p.view().discontinuitySequence).toBe(1)
    expect(p.init(0)).toBeUndefined()
    expect(p.init(1)).toBeDefined()
  })

  test('bytes that are not fragmented MP4 end the run: recorded, and the next run starts clean', () => {
    const p = packager()
    feed(p, 1, 3)
    p.push(1, new Uint8Array([0, 0, 0, 0, 0x6d, 0x64, 0x61, 0x74]))
    expect(p.lastError).toMatch(/end of the stream/)
    p.push(1, avPart(3, false))
    expect(p.view().nextPart).toBe(3)
    p.beginRun(2, T0 + 5000)
    p.push(2, avInit())
    feed(p, 2, 2)
    expect(p.view().nextPart).toBe(5)
  })

  test('a fragment before any init segment is refused', () => {
    const p = new LlPackager({ segmentSeconds: 2, partTarget: 0.234, maxSegments: 4, maxWaiters: 1 })
    p.beginRun(1, T0)
    p.push(1, avPart(0, true))
    expect(p.lastError).toMatch(/before the init segment/)
    expect(p.view().segments).toEqual([])
  })
})

describe('has (blocking reload directives)', () => {
  test('a part of a segment, or anything after it; a segment once complete', () => {
    const p = packager()
    feed(p, 1, 13)
    // Segment 0: parts 0–9 (complete); segment 1: parts 0–2.
    expect(p.has(0, 9)).toBe(true)
    expect(p.has(0, 12)).toBe(true) // segment 0 has only 10 parts, and segment 1 already began
    expect(p.has(1, 2)).toBe(true)
    expect(p.has(1, 3)).toBe(false)
    expect(p.has(2, 0)).toBe(false)
    expect(p.has(0)).toBe(true)
    expect(p.has(1)).toBe(false)
    feed(p, 1, 7, 10, 13)
    expect(p.has(1)).toBe(false) // complete only once the next independent part arrives
    feed(p, 1, 1, 10, 20)
    expect(p.has(1)).toBe(true)
    expect(p.has(2, 0)).toBe(true)
  })
})

describe('wait', () => {
  test('answers at once when ready, else when the part arrives and not before', async () => {
    const p = packager()
    feed(p, 1, 3)
    expect(await p.wait(() => p.has(0, 2), never, 1000)).toBe('ready')
    let outcome: string | undefined
    const waiting = p
      .wait(() => p.has(0, 4), never, 5000)
      .then((o) => {
        outcome = o
      })
    expect(p.waiting).toBe(1)
    feed(p, 1, 1, 10, 3)
    await Bun.sleep(0)
    expect(outcome).toBeUndefined()
    feed(p, 1, 1, 10, 4)
    await waiting
    expect(outcome).toBe('ready')
    expect(p.waiting).toBe(0)
  })

  test('times out, follows the abort signal, and is bounded per stream', async () => {
    const p = packager({ maxWaiters: 2 })
    feed(p, 1, 1)
    const started = performance.now()
    expect(await p.wait(() => p.has(5, 0), never, 50)).toBe('timeout')
    expect(performance.now() - started).toBeGreaterThanOrEqual(45)
    const left = new AbortController()
    const first = p.wait(() => p.has(5, 0), left.signal, 5000)
    const second = p.wait(() => p.has(5, 0), never, 5000)
    expect(await p.wait(() => p.has(5, 0), never, 5000)).toBe('busy')
    left.abort()
    expect(await first).toBe('aborted')
    expect(p.waiting).toBe(1)
    const aborted = new AbortController()
    aborted.abort()
    expect(await p.wait(() => p.has(5, 0), aborted.signal, 5000)).toBe('aborted')
    p.end()
    expect(await second).toBe('ended')
  })

  test('the end releases every waiting request, closes the last segment and ignores later bytes', async () => {
    const p = packager()
    feed(p, 1, 5)
    const waits = [
      p.wait(() => p.has(3, 0), never, 5000),
      p.wait(() => p.part(99) !== undefined, never, 5000),
    ]
    p.end()
    expect(await Promise.all(waits)).toEqual(['ended', 'ended'])
    expect(p.view().segments.at(-1)?.complete).toBe(true)
    expect(p.view().ended).toBe(true)
    expect(p.isNextPart(5)).toBe(false)
    feed(p, 1, 1, 10, 5)
    expect(p.view().nextPart).toBe(5)
    expect(await p.wait(() => p.has(3, 0), never, 5000)).toBe('ended')
  })
})
