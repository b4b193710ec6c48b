import { afterAll, describe, expect, test } from 'bun:test'
import { join } from 'node:path'
import { OggDemuxer, type OggPacket, parseOpusHead, parseOpusTags } from '../../src/platform/native.ts'
import { encodeOpus, itemAt, makeTempDir, type ProbedPacket, probePackets } from './fixtures.ts'

const temp = makeTempDir()
afterAll(temp.remove)

interface Fixture {
  name: string
  bytes: Uint8Array
  probed: ProbedPacket[]
  channels: number
}

function fixture(name: string, source: string, args: string[], channels: number): Fixture {
  const path = join(temp.dir, `${name}.opus`)
  const bytes = encodeOpus(path, source, args)
  return { name, bytes, probed: probePackets(path), channels }
}

const fixtures: Fixture[] = [
  fixture('mono-48k-16kbps', 'sine=frequency=440:duration=5', ['-b:a', '16k'], 1),
  fixture(
    'mono-8k-100ms-packets',
    'sine=frequency=440:duration=5:sample_rate=8000',
    ['-ar', '8000', '-b:a', '12k', '-frame_duration', '100'],
    1,
  ),
  fixture('stereo-48k-128kbps', 'sine=frequency=440:duration=3', ['-ac', '2', '-b:a', '128k'], 2),
]

function demuxInChunks(bytes: Uint8Array, chunkSize: number): { packets: OggPacket[]; errorCount: number } {
  const demuxer = new OggDemuxer()
  const packets: OggPacket[] = []
  let errorCount = 0
  for (let start = 0; start < bytes.length; start += chunkSize) {
    const result = demuxer.push(bytes.subarray(start, start + chunkSize))
    packets.push(...result.packets)
    errorCount += result.errors.length
  }
  errorCount += demuxer.finish().length
  return { packets, errorCount }
}

describe.each(fixtures)('demuxing $name made by FFmpeg', (file) => {
  test('packet count, sizes and durations match ffprobe -show_packets', () => {
    const batch = new OggDemuxer().pushBatch(file.bytes)
    expect(batch.errors).toEqual([])
    // Two header packets (OpusHead, OpusTags) precede the audio ffprobe lists.
    expect(batch.count).toBe(file.probed.length + 2)
    const sizes = Array.from({ length: batch.count - 2 }, (_, i) => batch.data(i + 2).length)
    expect(sizes).toEqual(file.probed.map((p) => p.size))

    // ffprobe trims the last packet to the final granule position (RFC 7845 §4.4 end trimming);
    // every other packet's duration must match exactly.
    const durations = Array.from({ length: batch.count - 2 }, (_, i) => batch.durationSamples(i + 2))
    expect(durations.slice(0, -1)).toEqual(file.probed.slice(0, -1).map((p) => p.duration))
    const finalGranule = batch.packet(batch.count - 1).granulePosition
    const probedTotal = file.probed.reduce((sum, p) => sum + p.duration, 0)
    expect(Math.min(batch.totalDurationSamples, finalGranule)).toBe(probedTotal)
  })

  test('OpusHead and OpusTags parse', () => {
    const { packets } = new OggDemuxer().push(file.bytes)
    const head = parseOpusHead(itemAt(packets, 0).data)
    expect(head.channelCount).toBe(file.channels)
    expect(head.mappingFamily).toBe(0)
    expect(head.preSkip).toBe(312)
    expect(itemAt(packets, 0).bos).toBe(true)
    expect(parseOpusTags(itemAt(packets, 1).data).vendor).toStartWith('Lavf')
    expect(itemAt(packets, -1).eos).toBe(true)
  })

  test('any chunking gives the same packets', () => {
    const whole = demuxInChunks(file.bytes, file.bytes.length)
    for (const chunkSize of [1, 7, 4096]) {
      const chunked = demuxInChunks(file.bytes, chunkSize)
      expect(chunked.errorCount).toBe(0)
      expect(chunked.packets.length).toBe(whole.packets.length)
      expect(chunked.packets.map((p) => p.granulePosition)).toEqual(
        whole.packets.map((p) => p.granulePosition),
      )
      expect(Buffer.concat(chunked.packets.map((p) => p.data))).toEqual(
        Buffer.concat(whole.packets.map((p) => p.data)),
      )
    }
  })
})

test('the 8 kHz, 100 ms file holds code 3 packets of five 20 ms SILK frames', () => {
  const file = itemAt(fixtures, 1)
  const batch = new OggDemuxer().pushBatch(file.bytes)
  const firstAudio = batch.data(2)
  expect(itemAt(firstAudio, 0) & 0x03).toBe(3)
  expect(batch.durationSamples(2)).toBe(4800)
})

test('chained logical streams are told apart by serial', () => {
  const a = itemAt(fixtures, 0).bytes
  const b = itemAt(fixtures, 2).bytes
  const both = new Uint8Array(a.length + b.length)
  both.set(a)
  both.set(b, a.length)
  const batch = new OggDemuxer().pushBatch(both)
  expect(batch.errors).toEqual([])
  const serials = Array.from({ length: batch.count }, (_, i) => batch.packet(i).serial)
  expect(new Set(serials).size).toBe(2)
  expect(batch.count).toBe(itemAt(fixtures, 0).probed.length + itemAt(fixtures, 2).probed.length + 4)
})
