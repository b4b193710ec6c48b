/**
 * Native addon benchmark: Ogg demux (CRC verified) of 60-minute Ogg Opus files against the pure-JS
 * codec-parser on the same bytes in the same run, plus ChunkRing push/readAfter throughput.
 * Run with `bun test/bench/native.bench.ts`. The audio files are made once by FFmpeg and cached in
 * the OS temp dir.
 *
 * Buffers the addon returns are freed only when the event loop turns (NOTES.md, "Native addon"): a synchronous
 * loop of a million readAfter calls once held them all, until the kernel killed the bench at 24 GB. Every section
 * therefore works in timed batches with an untimed `await` between them, and the bench prints each section's RSS
 * and stops if it grows by more than RSS_GROWTH_LIMIT_MIB within a section.
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
const RING_READS = 20_000
/** readAfter calls between two turns of the event loop: about 13 MiB of returned Buffers. */
const RING_READS_PER_BATCH = 1000
/** How far RSS may rise within a section, after its warm-up; past it the bench stops with an error. */
const RSS_GROWTH_LIMIT_MIB = 512

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

const MIB = 1024 * 1024
const mib = (bytes: number) => Math.round(bytes / MIB)

interface SectionMemory {
  section: string
  /** RSS once the section's warm-up is done (MiB). */
  start: number
  /** Highest RSS seen between its batches (MiB). */
  peak: number
  end: number
}
const memory: SectionMemory[] = []

/** Starts measuring a section's RSS from now (call it after the section's warm-up). */
async function startSection(section: string): Promise<void> {
  Bun.gc(true)
  await Bun.sleep(0)
  const now = mib(process.memoryUsage.rss())
  memory.push({ section, start: now, peak: now, end: now })
}

/**
 * Lets the event loop turn (so the addon's returned Buffers are freed), then records RSS and stops the bench if it
 * grew past the limit: memory must stay flat however many calls a section makes.
 */
async function settle(): Promise<void> {
  await Bun.sleep(0)
  const current = memory.at(-1)
  if (!current) return
  current.end = mib(process.memoryUsage.rss())
  current.peak = Math.max(current.peak, current.end)
  if (current.end - current.start > RSS_GROWTH_LIMIT_MIB) {
    throw new Error(
      `${current.section}: RSS grew from ${current.start} to ${current.end} MiB: returned Buffers are piling up`,
    )
  }
}

/** Time spent in `batches` calls of `batch`, with `settle` (untimed) after each. */
async function timedBatches(batches: number, batch: (index: number) => void): Promise<number> {
  let ms = 0
  for (let index = 0; index < batches; index++) {
    ms += timeMs(() => batch(index))
    await settle()
  }
  return ms
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

async function benchDemux(label: string, path: string): Promise<DemuxRow> {
  const bytes = new Uint8Array(readFileSync(path))
  const reference = demuxNativeBatch(bytes)
  const js = demuxCodecParser(bytes)
  if (js.packets !== reference.packets) {
    throw new Error(`packet counts differ: native ${reference.packets}, codec-parser ${js.packets}`)
  }
  if (demuxNativeStreaming(bytes).packets !== reference.packets) throw new Error('streaming count differs')
  await startSection(`demux ${label}`)

  const batchMs: number[] = []
  const streamingMs: number[] = []
  const codecParserMs: number[] = []
  // Interleaved so machine noise (thermal, other processes) hits all three alike.
  for (let run = 0; run < RUNS; run++) {
    batchMs.push(await timedBatches(1, () => demuxNativeBatch(bytes)))
    streamingMs.push(await timedBatches(1, () => demuxNativeStreaming(bytes)))
    codecParserMs.push(await timedBatches(1, () => demuxCodecParser(bytes)))
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

async function benchRing(): Promise<RingRow> {
  const chunk = new Uint8Array(RING_CHUNK_BYTES).fill(7)
  const pushRates: number[] = []
  const readRates: number[] = []
  await startSection('ChunkRing')
  for (let run = 0; run < RUNS; run++) {
    const ring = new ChunkRing({ capacity: 4096, maxBytes: 4 * 1024 * 1024 })
    const pushMs = timeMs(() => {
      for (let i = 0; i < RING_PUSHES; i++) ring.push(chunk, i)
    })
    pushRates.push(RING_PUSHES / (pushMs / 1000))

    const newest = ring.newestSequence ?? 0
    let entries = 0
    const readMs = await timedBatches(RING_READS / RING_READS_PER_BATCH, (batch) => {
      for (let i = batch * RING_READS_PER_BATCH; i < (batch + 1) * RING_READS_PER_BATCH; i++)
        entries += ring.readAfter(newest - RING_READ_BEHIND - (i % RING_READ_SPREAD)).length
    })
    readRates.push(entries / (readMs / 1000))
    Bun.gc(true)
    await settle()
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
  await benchDemux('60 min, 16 kbps', cachedOpusFile('16k')),
  await benchDemux('60 min, 128 kbps', cachedOpusFile('128k')),
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

const ring = await benchRing()
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
console.log(`RSS by section (MiB; each must stay within +${RSS_GROWTH_LIMIT_MIB} of its start)`)
console.table(memory)
