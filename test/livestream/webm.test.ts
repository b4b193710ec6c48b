import { beforeAll, describe, expect, test } from 'bun:test'
import {
  mayStartEbmlHeader,
  readElementSize,
  readInitSegment,
  startsWithEbmlHeader,
} from '../../src/livestream/webm.ts'
import { chunkWebm, makeWebm } from '../support/webm.ts'

let webm: Uint8Array
beforeAll(async () => {
  webm = await makeWebm({ seconds: 3 })
})

describe('readInitSegment', () => {
  test('finds EBML header + Tracks up to the first Cluster of FFmpeg-made live WebM', () => {
    const [first] = chunkWebm(webm)
    const result = readInitSegment(first?.bytes as Uint8Array)
    expect(result.ok).toBe(true)
    if (!result.ok) return
    expect(startsWithEbmlHeader(result.init)).toBe(true)
    expect(result.init.byteLength).toBeLessThan(4096)
    // What follows the init segment is the first Cluster.
    expect([...webm.subarray(result.init.byteLength, result.init.byteLength + 4)]).toEqual([
      0x1f, 0x43, 0xb6, 0x75,
    ])
  })

  test('refuses what is not WebM or cuts the header off, with a reason', () => {
    const bad = (bytes: Uint8Array) => {
      const result = readInitSegment(bytes)
      return result.ok ? 'ok' : result.reason
    }
    expect(bad(new TextEncoder().encode('definitely not webm'))).toContain('EBML')
    expect(bad(webm.subarray(0, 10))).toContain('truncated')
    const init = readInitSegment(webm)
    if (!init.ok) throw new Error(init.reason)
    expect(bad(webm.subarray(0, init.init.byteLength - 20))).toMatch(/cut off|truncated/)
    const matroska = webm.slice()
    // DocType "webm" → "wxbm"
    const at = Buffer.from(matroska).indexOf('webm')
    matroska[at + 1] = 0x78
    expect(bad(matroska)).toContain('DocType')
    const noise = crypto.getRandomValues(new Uint8Array(4096))
    noise.set([0x1a, 0x45, 0xdf, 0xa3])
    expect(bad(noise)).not.toBe('ok')
  })

  test('a header cut anywhere is incomplete (more bytes may finish it); a wrong one is not', () => {
    const init = readInitSegment(webm)
    if (!init.ok) throw new Error(init.reason)
    for (let length = 4; length < init.init.byteLength; length++) {
      const result = readInitSegment(webm.subarray(0, length))
      // A prefix that ends between whole elements after Tracks is already a usable header.
      if (!result.ok) expect([length, result.incomplete]).toEqual([length, true])
    }
    const incomplete = (bytes: Uint8Array) => {
      const result = readInitSegment(bytes)
      return !result.ok && result.incomplete
    }
    expect(incomplete(new TextEncoder().encode('definitely not webm'))).toBe(false)
    const matroska = webm.slice()
    matroska[Buffer.from(matroska).indexOf('webm') + 1] = 0x78
    expect(incomplete(matroska)).toBe(false)
    expect(mayStartEbmlHeader(Uint8Array.of(0x1a))).toBe(true)
    expect(mayStartEbmlHeader(Uint8Array.of(0x1a, 0x45, 0xdf))).toBe(true)
    expect(mayStartEbmlHeader(Uint8Array.of(0x1a, 0x46))).toBe(false)
    expect(mayStartEbmlHeader(webm.subarray(0, 4))).toBe(false)
  })

  test('EBML sizes, including the unknown size of a live Segment', () => {
    expect(readElementSize(Uint8Array.of(0x81), 0)).toEqual({ value: 1, length: 1, unknown: false })
    expect(readElementSize(Uint8Array.of(0x40, 0x02), 0)).toEqual({ value: 2, length: 2, unknown: false })
    expect(readElementSize(Uint8Array.of(0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff), 0)?.unknown).toBe(
      true,
    )
    expect(readElementSize(Uint8Array.of(0x00), 0)).toBeUndefined()
    expect(readElementSize(Uint8Array.of(0x40), 0)).toBeUndefined()
  })
})

test('test chunks split like MediaRecorder: about a second each, only the first starts with the header', () => {
  const chunks = chunkWebm(webm)
  expect(chunks.length).toBeGreaterThanOrEqual(3)
  expect(startsWithEbmlHeader(chunks[0]?.bytes as Uint8Array)).toBe(true)
  for (const chunk of chunks.slice(1)) expect(startsWithEbmlHeader(chunk.bytes)).toBe(false)
  expect(Buffer.concat(chunks.map((c) => c.bytes)).equals(Buffer.from(webm))).toBe(true)
})
