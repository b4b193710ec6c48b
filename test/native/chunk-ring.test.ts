import { describe, expect, test } from 'bun:test'
import { ChunkRing, isNativeLoaded, NativeError, nativeVersion } from '../../src/platform/native.ts'
import { itemAt } from './fixtures.ts'

const bytes = (...values: number[]) => new Uint8Array(values)

describe('ChunkRing', () => {
  test('push assigns sequences from firstSequence; readAfter resumes after one', () => {
    const ring = new ChunkRing({ capacity: 8, maxBytes: 1024, firstSequence: 100 })
    expect(ring.push(bytes(1), 1000)).toBe(100)
    expect(ring.push(bytes(2, 2), 1020)).toBe(101)
    expect(ring.push(bytes(3, 3, 3), 1040)).toBe(102)
    expect(ring.readAfter(100)).toEqual([
      { sequence: 101, timestamp: 1020, data: bytes(2, 2) },
      { sequence: 102, timestamp: 1040, data: bytes(3, 3, 3) },
    ])
    expect(ring.readAfter(102)).toEqual([])
    expect(ring.readAfter(100, 1).map((e) => e.sequence)).toEqual([101])
    expect(ring.readAfter(-1).map((e) => e.sequence)).toEqual([100, 101, 102])
    expect([ring.length, ring.totalBytes, ring.oldestSequence, ring.newestSequence]).toEqual([3, 6, 100, 102])
  })

  test('capacity evicts the oldest, and a client too far behind gets what is left', () => {
    const ring = new ChunkRing({ capacity: 3, maxBytes: 1024 })
    for (let i = 0; i < 10; i++) ring.push(bytes(i), i)
    expect(ring.latest(10).map((e) => e.sequence)).toEqual([8, 9, 10])
    expect(ring.readAfter(2).map((e) => e.sequence)).toEqual([8, 9, 10])
    expect(ring.oldestSequence).toBe(8)
  })

  test('the byte budget bounds memory and data stays intact', () => {
    const ring = new ChunkRing({ capacity: 1000, maxBytes: 1000 })
    for (let i = 1; i <= 200; i++) {
      ring.push(new Uint8Array(90 + (i % 20)).fill(i), i)
      expect(ring.totalBytes).toBeLessThanOrEqual(1000)
    }
    const held = ring.latest(1000)
    expect(held.length).toBeGreaterThan(3)
    for (const entry of held) expect(entry.data.every((b) => b === (entry.sequence & 0xff))).toBe(true)
    expect(itemAt(held, -1).sequence).toBe(200)
  })

  test('returned data is a copy, unaffected by later pushes', () => {
    const ring = new ChunkRing({ capacity: 2, maxBytes: 4 })
    ring.push(bytes(1, 1), 0)
    const first = itemAt(ring.readAfter(0), 0)
    ring.push(bytes(2, 2, 2, 2), 0)
    expect(first.data).toEqual(bytes(1, 1))
  })

  test('bad arguments throw NativeError codes', () => {
    expect(() => new ChunkRing({ capacity: 0, maxBytes: 10 })).toThrow(NativeError)
    const ring = new ChunkRing({ capacity: 2, maxBytes: 4 })
    expect(() => ring.push(bytes(1, 2, 3, 4, 5), 0)).toThrow(
      expect.objectContaining({ code: 'CHUNK_TOO_LARGE' }),
    )
    expect(() => new ChunkRing({ capacity: 2, maxBytes: 1.5 })).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
    )
  })
})

test('the addon reports itself loaded, for /health', () => {
  expect(isNativeLoaded()).toBe(true)
  expect(nativeVersion()).toMatch(/^\d+\.\d+\.\d+$/)
})
