import { describe, expect, test } from 'bun:test'
import { LlPackager, type LlPart, type LlSegment } from '../../src/livestream/ll-packager.ts'
import { llNames, partHoldBack, renderLlPlaylist } from '../../src/livestream/ll-playlist.ts'
import { parseLlPlaylist, partNumber } from '../support/ll-playlist.ts'
import { avInit, avPart } from '../support/mp4.ts'

const T0 = Date.UTC(2026, 0, 1, 12, 0, 0)
const OPTIONS = { segmentSeconds: 2, partTarget: 0.234 }

const part = (number: number, duration: number, independent = false): LlPart => ({
  number,
  duration,
  independent,
  bytes: new Uint8Array(0),
})

function segment(msn: number, parts: LlPart[], extra: Partial<LlSegment> = {}): LlSegment {
  return {
    msn,
    init: 0,
    discontinuity: false,
    programDateTime: T0 + msn * 2000,
    parts,
    duration: parts.reduce((sum, p) => sum + p.duration, 0),
    complete: true,
    ...extra,
  }
}

describe('renderLlPlaylist', () => {
  test('the live playlist, tag by tag', () => {
    const text = renderLlPlaylist(
      {
        segments: [
          segment(7, [part(70, 0.2, true), part(71, 0.2)]),
          segment(8, [part(72, 0.2, true)], { complete: false }),
        ],
        discontinuitySequence: 0,
        nextPart: 73,
        longestSegment: 0.4,
        ended: false,
      },
      OPTIONS,
    )
    expect(text).toBe(
      [
        '#EXTM3U',
        '#EXT-X-VERSION:9',
        '#EXT-X-TARGETDURATION:2',
        '#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=0.702',
        '#EXT-X-PART-INF:PART-TARGET=0.234',
        '#EXT-X-MEDIA-SEQUENCE:7',
        '#EXT-X-DISCONTINUITY-SEQUENCE:0',
        '#EXT-X-INDEPENDENT-SEGMENTS',
        '#EXT-X-MAP:URI="init_0.mp4"',
        '#EXT-X-PROGRAM-DATE-TIME:2026-01-01T12:00:14.000Z',
        '#EXT-X-PART:DURATION=0.200,URI="part_70.m4s",INDEPENDENT=YES',
        '#EXT-X-PART:DURATION=0.200,URI="part_71.m4s"',
        '#EXTINF:0.400,',
        'seg_7.m4s',
        '#EXT-X-PROGRAM-DATE-TIME:2026-01-01T12:00:16.000Z',
        '#EXT-X-PART:DURATION=0.200,URI="part_72.m4s",INDEPENDENT=YES',
        '#EXT-X-PRELOAD-HINT:TYPE=PART,URI="part_73.m4s"',
        '',
      ].join('\n'),
    )
  })

  test('parts only within three target durations of the end; a discontinuity with its new map; ENDLIST, no hint', () => {
    const gop = (first: number) => Array.from({ length: 10 }, (_, i) => part(first + i, 0.2, i === 0))
    const text = renderLlPlaylist(
      {
        segments: [
          segment(0, gop(0)),
          segment(1, gop(10)),
          segment(2, gop(20), { init: 1, discontinuity: true }),
          segment(3, gop(30), { init: 1 }),
        ],
        discontinuitySequence: 2,
        nextPart: 40,
        longestSegment: 2,
        ended: true,
      },
      OPTIONS,
    )
    const list = parseLlPlaylist(text)
    expect(list.segments.map((s) => s.parts.length)).toEqual([0, 10, 10, 10])
    expect(list.segments.map((s) => s.map)).toEqual(['init_0.mp4', 'init_0.mp4', 'init_1.mp4', 'init_1.mp4'])
    expect(text).toContain(
      'seg_1.m4s\n#EXT-X-DISCONTINUITY\n#EXT-X-MAP:URI="init_1.mp4"\n#EXT-X-PROGRAM-DATE-TIME:',
    )
    expect(text).toContain('#EXT-X-DISCONTINUITY-SEQUENCE:2\n')
    expect(text.endsWith('seg_3.m4s\n#EXT-X-ENDLIST\n')).toBe(true)
    expect(text).not.toContain('PRELOAD-HINT')
  })

  test('the target duration grows to the longest rounded segment and never shrinks', () => {
    const view = (longestSegment: number, durations: number[]) => ({
      segments: durations.map((d, i) => segment(i, [part(i, d, true)])),
      discontinuitySequence: 0,
      nextPart: durations.length,
      longestSegment,
      ended: false,
    })
    expect(renderLlPlaylist(view(0, [2.4]), OPTIONS)).toContain('#EXT-X-TARGETDURATION:2\n')
    expect(renderLlPlaylist(view(0, [3.6]), OPTIONS)).toContain('#EXT-X-TARGETDURATION:4\n')
    expect(renderLlPlaylist(view(4.6, [2]), OPTIONS)).toContain('#EXT-X-TARGETDURATION:5\n')
  })

  test('PART-HOLD-BACK is three part targets (RFC 8216bis: at least two)', () => {
    expect(partHoldBack(0.234)).toBeCloseTo(0.702, 9)
  })

  test('file names the routes accept', () => {
    expect([llNames.init(3), llNames.part(12), llNames.segment(4)].map(llNames.parse)).toEqual([
      { kind: 'init', n: 3 },
      { kind: 'part', n: 12 },
      { kind: 'seg', n: 4 },
    ])
    for (const name of [
      'init_3.m4s',
      'part_1.mp4',
      'seg_-1.m4s',
      'part_1234567890.m4s',
      'll.m3u8',
      'part_.m4s',
    ])
      expect(llNames.parse(name)).toBeUndefined()
  })
})

/** A small deterministic PRNG (mulberry32), so a failing case can be replayed from its seed. */
function random(seed: number): () => number {
  let a = seed
  return () => {
    a = (a + 0x6d2b79f5) | 0
    let t = Math.imul(a ^ (a >>> 15), 1 | a)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

test('invariants over random streams (restarts, GOP lengths, short parts, reloads): part durations ≤ PART-TARGET, segment = its parts, sequence numbers monotonic', () => {
  for (let seed = 1; seed <= 200; seed++) {
    const next = random(seed)
    const packager = new LlPackager({
      segmentSeconds: 2,
      partTarget: 0.234,
      maxSegments: 1 + Math.floor(next() * 6),
      maxWaiters: 1,
    })
    let run = 1
    packager.beginRun(run, T0)
    packager.push(run, avInit())
    let index = 0
    let previous: ReturnType<typeof parseLlPlaylist> | undefined
    const steps = 20 + Math.floor(next() * 150)
    for (let step = 0; step < steps; step++) {
      const roll = next()
      if (roll < 0.02) {
        run++
        packager.beginRun(run, T0 + step * 200)
        packager.push(run, avInit())
        index = 0
        continue
      }
      // 1–6 frames of 30 fps: at most 200 ms; a keyframe every 10 parts, or when a restart began the run.
      const bytes = avPart(index, index % 10 === 0, 1 + Math.floor(next() * 6))
      // Bytes arrive split anywhere.
      const cut = Math.floor(next() * bytes.byteLength)
      packager.push(run, bytes.subarray(0, cut))
      packager.push(run, bytes.subarray(cut))
      index++
      if (next() < 0.3) {
        const list = parseLlPlaylist(renderLlPlaylist(packager.view(), OPTIONS))
        for (const [i, s] of list.segments.entries()) {
          expect(s.msn).toBe(list.mediaSequence + i)
          for (const p of s.parts) expect(p.duration).toBeLessThanOrEqual(list.partTarget)
          // Each duration is printed to the millisecond, so the sum may drift by half a millisecond a part.
          if (s.duration !== null && s.parts.length > 0) {
            const sum = s.parts.reduce((total, p) => total + p.duration, 0)
            expect(Math.abs(s.duration - sum)).toBeLessThanOrEqual(0.0005 * (s.parts.length + 1))
          }
          if (s.duration !== null) expect(Math.round(s.duration)).toBeLessThanOrEqual(list.targetDuration)
        }
        const parts = list.segments.flatMap((s) => s.parts.map((p) => partNumber(p.uri)))
        for (let i = 1; i < parts.length; i++) expect(parts[i]).toBe((parts[i - 1] as number) + 1)
        if (previous) {
          expect(list.mediaSequence).toBeGreaterThanOrEqual(previous.mediaSequence)
          expect(list.discontinuitySequence).toBeGreaterThanOrEqual(previous.discontinuitySequence)
          expect(list.targetDuration).toBeGreaterThanOrEqual(previous.targetDuration)
          expect(partNumber(list.hint as string)).toBeGreaterThanOrEqual(partNumber(previous.hint as string))
          // A segment keeps its number, program date time and discontinuity from one reload to the next.
          for (const s of list.segments) {
            const before = previous.segments.find((b) => b.msn === s.msn)
            if (!before) continue
            expect(s.programDateTime).toBe(before.programDateTime as number)
            expect(s.discontinuity).toBe(before.discontinuity)
          }
        }
        previous = list
      }
    }
  }
})
