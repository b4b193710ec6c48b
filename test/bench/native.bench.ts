/**
 * Native addon benchmark: Ogg demux (CRC verified) of 60-minute Ogg Opus files against the pure-JS
 * codec-parser on the same bytes in the same run, plus ChunkRing push/readAfter throughput.
 * Run with `bun test/bench/native.bench.ts`. The audio files are made once by FFmpeg and cached in
 * the OS temp dir.
 */
import { existsSync, mkdirSync, readFileSync, renameSync } from 'node:fs'
import { availableParallelism, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import CodecParser from 'codec-parser'
import { ChunkRing, nativeVersion, OggDemuxer } from '../../src/platform/native.ts'

const RUNS = 9
const RING_PUSHES = 1_000_000
const RING_CHUNK_BYTES = 200
/** Resuming SSE clients are this many entries behind the newest, plus 0–999 more (a few seconds). */
const RING_READ_BEHIND = 100
const RING_READ_SPREAD = 1000

const cacheDir = join(tmpdir(), 'airwave-native-bench')

function cachedOpusFile(bitrate: string): string {
  const path = join(cacheDir, `pink-60min-${bitrate}.opus`)
  if (existsSync(path)) return path
  mkdirSync(cacheDir, { recursive: true })
  console.log(`Encoding 60 minutes of pink noise at ${bitrate} (once, cached in ${cacheDir})…`)
  const partial = `${path}.partial`
  const result = Bun.spawnSync(
    [
      'ffmpeg',
      '-v',
      'error',
      '-y',
      '-f',
      'lavfi',
      '-i',
      'anoisesrc=d=3600:c=pink:r=48000',
      '-ac',
      '1',
      '-c:a',
      'libopus',
      '-b:a',
      bitrate,
      '-compression_level',
      '0',
      '-f',
      'ogg',
      partial,
    ],
    { stderr: 'inherit' },
  )
  if (result.exitCode !== 0) throw new Error(`ffmpeg failed with exit code ${result.exitCode}`)
  renameSync(partial, path)
  return path
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = sorted.length >> 1
  return sorted.length % 2 === 1
    ? (sorted[middle] ?? 0)
    : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2
}

function timeMs(body: () => void): number {
  const start = Bun.nanoseconds()
  body()
  return (Bun.nanoseconds() - start) / 1e6
}

interface DemuxOutcome {
  packets: number
  durationSamples: number
}

/** The fast path: one call, every packet's bytes and metadata back in flat typed arrays. */
function demuxNativeBatch(bytes: Uint8Array): DemuxOutcome {
  const demuxer = new OggDemuxer()
  const batch = demuxer.pushBatch(bytes)
  const errors = [...batch.errors, ...demuxer.finish()]
  if (errors.length > 0) throw new Error(`native demux reported ${errors[0]?.code}`)
  return { packets: batch.count - 2, durationSamples: batch.totalDurationSamples }
}

/** The streaming path as ingest uses it: 4 KiB network-sized chunks, one object per packet. */
function demuxNativeStreaming(bytes: Uint8Array): DemuxOutcome {
  const demuxer = new OggDemuxer()
  let packets = 0
  let payloadBytes = 0
  for (let start = 0; start < bytes.length; start += 4096) {
    const result = demuxer.push(bytes.subarray(start, start + 4096))
    packets += result.packets.length
    for (const packet of result.packets) payloadBytes += packet.data.length
  }
  if (demuxer.finish().length > 0 || payloadBytes === 0) throw new Error('native streaming demux failed')
  return { packets: packets - 2, durationSamples: 0 }
}

function demuxCodecParser(bytes: Uint8Array): DemuxOutcome {
  const parser = new CodecParser('audio/ogg', { enableLogging: false })
  let packets = 0
  let durationSamples = 0
  for (const page of parser.parseAll(bytes) as { codecFrames: { samples: number }[] }[]) {
    packets += page.codecFrames.length
    for (const frame of page.codecFrames) durationSamples += frame.samples
  }
  return { packets, durationSamples }
}

interface DemuxRow {
  file: string
  bytes: number
  packets: number
  nativeBatchMBs: number
  nativeStreamingMBs: number
  codecParserMBs: number
}

function benchDemux(label: string, path: string): DemuxRow {
  const bytes = new Uint8Array(readFileSync(path))
  const reference = demuxNativeBatch(bytes)
  const js = demuxCodecParser(bytes)
  if (js.packets !== reference.packets) {
    throw new Error(`packet counts differ: native ${reference.packets}, codec-parser ${js.packets}`)
  }
  if (demuxNativeStreaming(bytes).packets !== reference.packets) throw new Error('streaming count differs')

  const batchMs: number[] = []
  const streamingMs: number[] = []
  const codecParserMs: number[] = []
  // Interleaved so machine noise (thermal, other processes) hits all three alike.
  for (let run = 0; run < RUNS; run++) {
    batchMs.push(timeMs(() => demuxNativeBatch(bytes)))
    streamingMs.push(timeMs(() => demuxNativeStreaming(bytes)))
    codecParserMs.push(timeMs(() => demuxCodecParser(bytes)))
    Bun.gc(true)
  }
  const mbPerSecond = (ms: number) => bytes.length / 1e6 / (ms / 1000)
  return {
    file: label,
    bytes: bytes.length,
    packets: reference.packets,
    nativeBatchMBs: mbPerSecond(median(batchMs)),
    nativeStreamingMBs: mbPerSecond(median(streamingMs)),
    codecParserMBs: mbPerSecond(median(codecParserMs)),
  }
}

interface RingRow {
  pushesPerSecond: number
  readEntriesPerSecond: number
  readMBs: number
}

function benchRing(): RingRow {
  const chunk = new Uint8Array(RING_CHUNK_BYTES).fill(7)
  const pushRates: number[] = []
  const readRates: number[] = []
  for (let run = 0; run < RUNS; run++) {
    const ring = new ChunkRing({ capacity: 4096, maxBytes: 4 * 1024 * 1024 })
    const pushMs = timeMs(() => {
      for (let i = 0; i < RING_PUSHES; i++) ring.push(chunk, i)
    })
    pushRates.push(RING_PUSHES / (pushMs / 1000))

    const newest = ring.newestSequence ?? 0
    const reads = 20_000
    let entries = 0
    const readMs = timeMs(() => {
      for (let i = 0; i < reads; i++)
        entries += ring.readAfter(newest - RING_READ_BEHIND - (i % RING_READ_SPREAD)).length
    })
    readRates.push(entries / (readMs / 1000))
    Bun.gc(true)
  }
  const readEntriesPerSecond = median(readRates)
  return {
    pushesPerSecond: median(pushRates),
    readEntriesPerSecond,
    readMBs: (readEntriesPerSecond * RING_CHUNK_BYTES) / 1e6,
  }
}

const format = (value: number, digits = 0) =>
  value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })

// Wall-clock medians: on a shared machine the load average says how much to trust them.
const [load] = loadavg()
console.log(
  `airwave-native ${nativeVersion()} on Bun ${Bun.version}, ${RUNS} runs each, medians; ` +
    `${availableParallelism()} cores, load average ${format(load ?? 0, 1)}\n`,
)

const demuxRows = [
  benchDemux('60 min, 16 kbps', cachedOpusFile('16k')),
  benchDemux('60 min, 128 kbps', cachedOpusFile('128k')),
]
console.log('Ogg demux, CRC verified (MB/s = 10^6 bytes of file per second)')
console.table(
  demuxRows.map((row) => ({
    file: row.file,
    'file MB': format(row.bytes / 1e6, 1),
    packets: format(row.packets),
    'native batch MB/s': format(row.nativeBatchMBs),
    'native push(4 KiB) MB/s': format(row.nativeStreamingMBs),
    'codec-parser MB/s': format(row.codecParserMBs, 1),
    'batch vs codec-parser': `${format(row.nativeBatchMBs / row.codecParserMBs, 1)}×`,
    'push vs codec-parser': `${format(row.nativeStreamingMBs / row.codecParserMBs, 1)}×`,
  })),
)

const ring = benchRing()
console.log(
  `ChunkRing, ${RING_CHUNK_BYTES}-byte chunks pushed from JS; readAfter from ${RING_READ_BEHIND}–${RING_READ_BEHIND + RING_READ_SPREAD - 1} entries behind`,
)
console.table([
  {
    'push/s': format(ring.pushesPerSecond),
    'readAfter entries/s': format(ring.readEntriesPerSecond),
    'readAfter MB/s': format(ring.readMBs),
  },
])
