import { afterAll, describe, expect, test } from 'bun:test'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import {
  OggDemuxer,
  OggMuxer,
  parseOpusHead,
  parseOpusTags,
  validateOpusPacket,
} from '../../src/platform/native.ts'
import { decodedSamples, encodeOpus, itemAt, makeTempDir, probePackets } from './fixtures.ts'

const temp = makeTempDir()
afterAll(temp.remove)

function concat(parts: Uint8Array[]): Uint8Array {
  return new Uint8Array(Buffer.concat(parts))
}

/** Demuxes an FFmpeg file and writes its audio packets back out through the addon's muxer. */
function remux(source: Uint8Array, options: { channels: number; flushEvery?: number }) {
  const { packets } = new OggDemuxer().push(source)
  const head = parseOpusHead(itemAt(packets, 0).data)
  const audio = packets.slice(2).map((p) => p.data)
  const muxer = new OggMuxer({
    serial: 1234,
    channels: options.channels,
    preSkip: head.preSkip,
    comments: ['TITLE=remux test'],
  })
  const parts = [muxer.takePages()]
  audio.forEach((packet, index) => {
    parts.push(muxer.writePacket(packet))
    if (options.flushEvery && index % options.flushEvery === 0) parts.push(muxer.flush())
  })
  parts.push(muxer.finish())
  return { bytes: concat(parts), audio, preSkip: head.preSkip }
}

const cases = [
  {
    name: 'mono 48 kHz 20 ms packets',
    source: 'sine=frequency=440:duration=4',
    args: ['-b:a', '24k'],
    channels: 1,
  },
  {
    name: 'mono 8 kHz 100 ms packets',
    source: 'sine=frequency=300:duration=4:sample_rate=8000',
    args: ['-ar', '8000', '-b:a', '12k', '-frame_duration', '100'],
    channels: 1,
  },
  {
    name: 'stereo 48 kHz 128 kbps, flushed often',
    source: 'sine=frequency=440:duration=4',
    args: ['-ac', '2', '-b:a', '128k'],
    channels: 2,
    flushEvery: 7,
  },
]

describe.each(cases)('muxing $name', (scenario) => {
  const sourcePath = join(temp.dir, `source-${scenario.channels}-${scenario.args.join('')}.opus`)
  const source = encodeOpus(sourcePath, scenario.source, scenario.args)
  const outputPath = join(temp.dir, `remuxed-${scenario.channels}-${scenario.args.join('')}.opus`)
  const { bytes, audio, preSkip } = remux(source, scenario)
  writeFileSync(outputPath, bytes)

  test('ffprobe sees every packet with its size and duration', () => {
    const probed = probePackets(outputPath)
    expect(probed.map((p) => p.size)).toEqual(audio.map((p) => p.length))
    expect(probed.map((p) => p.duration)).toEqual(audio.map(durationOf))
  })

  test('ffmpeg decodes it to the expected duration, within one frame', () => {
    const packetSamples = durationOf(itemAt(audio, 0))
    const expected = audio.reduce((sum, packet) => sum + durationOf(packet), 0) - preSkip
    const decoded = decodedSamples(outputPath)
    expect(Math.abs(decoded - expected)).toBeLessThanOrEqual(packetSamples)
    // The source ends trimmed to its true length; the remux (no end trim) may only add the final partial packet.
    expect(Math.abs(decoded - decodedSamples(sourcePath))).toBeLessThanOrEqual(packetSamples)
  })

  test('headers survive and the last page is end-of-stream', () => {
    const { packets, errors } = new OggDemuxer().push(bytes)
    expect(errors).toEqual([])
    expect(parseOpusHead(itemAt(packets, 0).data)).toMatchObject({ channelCount: scenario.channels, preSkip })
    expect(parseOpusTags(itemAt(packets, 1).data).comments).toEqual(['TITLE=remux test'])
    expect(packets.every((p) => p.serial === 1234)).toBe(true)
    expect(itemAt(packets, -1).eos).toBe(true)
  })
})

function durationOf(packet: Uint8Array): number {
  const validation = validateOpusPacket(packet)
  if (!validation.valid) throw new Error(`FFmpeg wrote an invalid packet: ${validation.message}`)
  return validation.durationSamples
}

test('writing after finish and invalid packets are rejected with codes', () => {
  const muxer = new OggMuxer()
  expect(() => muxer.writePacket(new Uint8Array())).toThrow(expect.objectContaining({ code: 'INVALID_TOC' }))
  muxer.finish()
  expect(() => muxer.writePacket(new Uint8Array([0xf8, 1]))).toThrow(
    expect.objectContaining({ code: 'INVALID_STATE' }),
  )
  expect(() => new OggMuxer({ channels: 3 })).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }))
})

test('an OpusTags packet larger than a page spans pages and demuxes whole, in any chunking', () => {
  const cover = `METADATA_BLOCK_PICTURE=${'x'.repeat(100_000)}`
  const muxer = new OggMuxer({ comments: [cover] })
  const file = new Uint8Array(Buffer.concat([muxer.takePages(), muxer.finish()]))
  for (const chunkSize of [file.length, 1000, 1]) {
    const demuxer = new OggDemuxer()
    const packets = []
    for (let start = 0; start < file.length; start += chunkSize) {
      packets.push(...demuxer.push(file.subarray(start, start + chunkSize)).packets)
    }
    expect(packets).toHaveLength(2)
    expect(parseOpusTags(itemAt(packets, 1).data).comments).toEqual([cover])
  }
})
