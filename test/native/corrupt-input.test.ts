import { afterAll, expect, test } from 'bun:test'
import { join } from 'node:path'
import { classifyChunk, NativeError, OggDemuxer } from '../../src/platform/native.ts'
import { encodeOpus, itemAt, makeTempDir } from './fixtures.ts'

const temp = makeTempDir()
afterAll(temp.remove)

const file = encodeOpus(join(temp.dir, 'clean.opus'), 'sine=frequency=440:duration=5', ['-b:a', '16k'])
const clean = new OggDemuxer().pushBatch(file)

/** Byte offsets of every page, found by the capture pattern. */
function pageOffsets(bytes: Uint8Array): number[] {
  const offsets: number[] = []
  for (let i = 0; i + 4 <= bytes.length; i++) {
    if (bytes[i] === 0x4f && bytes[i + 1] === 0x67 && bytes[i + 2] === 0x67 && bytes[i + 3] === 0x53)
      offsets.push(i)
  }
  return offsets
}

function flipBits(bytes: Uint8Array, index: number, mask: number): void {
  bytes[index] = itemAt(bytes, index) ^ mask
}

test('a flipped byte is a CRC_MISMATCH at that page, and the following pages still demux', () => {
  const pages = pageOffsets(file)
  expect(pages.length).toBeGreaterThan(4)
  const damagedPage = itemAt(pages, 3)
  const corrupt = file.slice()
  flipBits(corrupt, damagedPage + 40, 0x5a)

  const demuxer = new OggDemuxer()
  const batch = demuxer.pushBatch(corrupt)
  expect(demuxer.finish()).toEqual([])
  expect(batch.errors).toHaveLength(1)
  const error = itemAt(batch.errors, 0)
  expect(error).toBeInstanceOf(NativeError)
  expect(error).toBeInstanceOf(Error)
  expect(error.code).toBe('CRC_MISMATCH')
  expect(error.offset).toBe(damagedPage)
  // Only the damaged page's packets are lost; the last packets are identical to the clean file's.
  expect(batch.count).toBeLessThan(clean.count)
  expect(batch.count).toBeGreaterThan(clean.count - 60)
  const lastPackets = (b: typeof batch) => [1, 2, 3, 4, 5].map((back) => b.data(b.count - back))
  expect(lastPackets(batch)).toEqual(lastPackets(clean))
})

test('damage is reported the same when the bytes arrive one at a time', () => {
  const corrupt = file.slice()
  const damagedPage = itemAt(pageOffsets(file), 2)
  flipBits(corrupt, damagedPage + 30, 0xff)
  const demuxer = new OggDemuxer()
  const codes: string[] = []
  let packets = 0
  for (let i = 0; i < corrupt.length; i++) {
    const result = demuxer.push(corrupt.subarray(i, i + 1))
    packets += result.packets.length
    codes.push(...result.errors.map((e) => e.code))
  }
  expect(codes).toEqual(['CRC_MISMATCH'])
  expect(packets).toBe(new OggDemuxer().pushBatch(corrupt).count)
})

test('truncated input is reported by finish()', () => {
  const demuxer = new OggDemuxer()
  demuxer.push(file.subarray(0, file.length - 25))
  expect(demuxer.bufferedBytes).toBeGreaterThan(0)
  const errors = demuxer.finish()
  expect(errors.map((e) => e.code)).toContain('TRUNCATED')
})

test('garbage between pages is INVALID_PAGE once, then demuxing resumes', () => {
  const pages = pageOffsets(file)
  const cut = itemAt(pages, 5)
  const garbage = new TextEncoder().encode('<html>definitely not an Ogg page</html>')
  const spliced = new Uint8Array(Buffer.concat([file.subarray(0, cut), garbage, file.subarray(cut)]))
  const batch = new OggDemuxer().pushBatch(spliced)
  expect(batch.errors.map((e) => [e.code, e.offset])).toEqual([['INVALID_PAGE', cut]])
  expect(batch.count).toBe(clean.count)
})

test('random bytes and mutated files never crash the demuxer or the classifier', () => {
  let seed = 42
  const random = () => {
    seed = (seed * 1_103_515_245 + 12_345) >>> 0
    return seed
  }
  for (let round = 0; round < 300; round++) {
    const noise = new Uint8Array(random() % 3000).map(() => random() & 0xff)
    new OggDemuxer().pushBatch(noise)
    classifyChunk(noise)
    const mutated = file.slice()
    for (let flips = 0; flips < 1 + (round % 8); flips++) mutated[random() % mutated.length] = random() & 0xff
    const demuxer = new OggDemuxer()
    for (let start = 0; start < mutated.length; ) {
      const chunkSize = 1 + (random() % 5000)
      demuxer.push(mutated.subarray(start, start + chunkSize))
      start += chunkSize
    }
    demuxer.finish()
    classifyChunk(mutated)
  }
})

test('a corrupt page makes classifyChunk say neither, with the code', () => {
  const corrupt = file.slice()
  flipBits(corrupt, itemAt(pageOffsets(file), 1) + 35, 1)
  expect(classifyChunk(corrupt)).toMatchObject({ kind: 'neither', code: 'CRC_MISMATCH' })
})
