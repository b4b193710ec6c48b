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

  test('push takes any Uint8Array view, Buffers included, and copies exactly its bytes', () => {
    const ring = new ChunkRing({ capacity: 4, maxBytes: 64 })
    const backing = Uint8Array.from({ length: 32 }, (_, i) => i)
    ring.push(backing.subarray(5, 9), 0)
    ring.push(Buffer.from('abc'), 0)
    ring.push(new Uint8Array(0), 0)
    expect(ring.readAfter(0).map((e) => Array.from(e.data))).toEqual([[5, 6, 7, 8], [97, 98, 99], []])
  })

  test('push rejects what is not a Uint8Array', () => {
    const ring = new ChunkRing({ capacity: 4, maxBytes: 64 })
    for (const bad of ['text', 42, new Uint16Array(2), new Uint8ClampedArray(2), null]) {
      expect(() => ring.push(bad as unknown as Uint8Array, 0)).toThrow(
        expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
      )
    }
    expect(() => ring.push(bytes(1), 'noon' as unknown as number)).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
    )
    expect(ring.length).toBe(0)
  })

  test('rings that are dropped are freed by the collector without trouble', () => {
    for (let i = 0; i < 2000; i++) new ChunkRing({ capacity: 8, maxBytes: 4096 }).push(bytes(i & 0xff), i)
    Bun.gc(true)
    const survivor = new ChunkRing({ capacity: 8, maxBytes: 4096 })
    expect(survivor.push(bytes(1), 0)).toBe(1)
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
