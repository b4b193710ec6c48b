import { CLUSTER_ID, readElementId, readElementSize, SEGMENT_ID } from '../../src/livestream/webm.ts'

const TIMECODE_ID = 0xe7
const SIMPLE_BLOCK_ID = 0xa3
const BLOCK_GROUP_ID = 0xa0
const BLOCK_ID = 0xa1

/** A chunk the way MediaRecorder hands one over: arbitrary whole-block boundaries, the header in the first. */
export interface WebmChunk {
  bytes: Uint8Array
  /** Media time (ms) of the last block that ends in this chunk. */
  lastTimeMs: number
}

export interface WebmOptions {
  seconds: number
  width?: number
  height?: number
  fps?: number
  videoBitrate?: string
  codec?: 'libvpx' | 'libvpx-vp9'
}

/** Makes a live-style WebM (VP8/VP9 + Opus) with FFmpeg: testsrc video and a sine tone. */
export async function makeWebm(options: WebmOptions): Promise<Uint8Array> {
  const { seconds, width = 640, height = 360, fps = 30, videoBitrate = '800k', codec = 'libvpx' } = options
  const proc = Bun.spawn(
    [
      'ffmpeg',
      '-hide_banner',
      '-loglevel',
      'error',
      '-f',
      'lavfi',
      '-i',
      `testsrc=size=${width}x${height}:rate=${fps}`,
      '-f',
      'lavfi',
      '-i',
      'sine=frequency=440:sample_rate=48000',
      '-t',
      String(seconds),
      '-c:v',
      codec,
      '-deadline',
      'realtime',
      '-cpu-used',
      '8',
      '-b:v',
      videoBitrate,
      '-g',
      String(fps),
      '-c:a',
      'libopus',
      '-f',
      'webm',
      '-live',
      '1',
      'pipe:1',
    ],
    { stdout: 'pipe', stderr: 'pipe', stdin: 'ignore' },
  )
  const [bytes, errors, code] = await Promise.all([
    new Response(proc.stdout).arrayBuffer(),
    new Response(proc.stderr).text(),
    proc.exited,
  ])
  if (code !== 0) throw new Error(`ffmpeg could not make the test WebM: ${errors}`)
  return new Uint8Array(bytes)
}

interface Block {
  /** Where a chunk may end before this block: the block, or its cluster when it is the cluster's first. */
  cut: number
  end: number
  timeMs: number
}

/** Every (Simple)Block's position and time, walking Segment → Cluster (known or unknown sizes). */
export function listBlocks(bytes: Uint8Array): Block[] {
  const header = readElementSize(bytes, 4)
  if (!header) throw new Error('not EBML')
  let offset = 4 + header.length + header.value
  const segment = readElementId(bytes, offset)
  if (segment?.value !== SEGMENT_ID) throw new Error('no Segment')
  offset += segment.length + (readElementSize(bytes, offset + segment.length)?.length ?? 0)
  const blocks: Block[] = []
  let clusterTime = 0
  /** A cluster's first block is cut before the cluster header, so no chunk ends with a dangling header. */
  let pendingCut: number | null = null
  let inCluster = false
  let clusterEnd = Number.POSITIVE_INFINITY
  while (offset < bytes.length) {
    const id = readElementId(bytes, offset)
    const size = id && readElementSize(bytes, offset + id.length)
    if (!id || !size) break
    const dataStart = offset + id.length + size.length
    if (id.value === CLUSTER_ID) {
      inCluster = true
      pendingCut = offset
      clusterEnd = size.unknown ? Number.POSITIVE_INFINITY : dataStart + size.value
      offset = dataStart
      continue
    }
    if (inCluster && offset >= clusterEnd) inCluster = false
    if (inCluster && id.value === TIMECODE_ID) {
      clusterTime = 0
      for (let i = 0; i < size.value; i++) clusterTime = clusterTime * 256 + (bytes[dataStart + i] as number)
    } else if (inCluster && (id.value === SIMPLE_BLOCK_ID || id.value === BLOCK_GROUP_ID)) {
      let blockStart = dataStart
      if (id.value === BLOCK_GROUP_ID) {
        const inner = readElementId(bytes, dataStart)
        const innerSize = inner && readElementSize(bytes, dataStart + inner.length)
        if (inner?.value !== BLOCK_ID || !innerSize) throw new Error('unexpected BlockGroup layout')
        blockStart = dataStart + inner.length + innerSize.length
      }
      const track = readElementSize(bytes, blockStart)
      if (!track) break
      const view = new DataView(bytes.buffer, bytes.byteOffset)
      const relative = view.getInt16(blockStart + track.length)
      blocks.push({ cut: pendingCut ?? offset, end: dataStart + size.value, timeMs: clusterTime + relative })
      pendingCut = null
    }
    offset = dataStart + size.value
  }
  return blocks
}

/** Splits WebM into ~`sliceMs` chunks at block boundaries; the first chunk holds the EBML header and Tracks. */
export function chunkWebm(bytes: Uint8Array, sliceMs = 1000): WebmChunk[] {
  const blocks = listBlocks(bytes)
  const chunks: WebmChunk[] = []
  let start = 0
  let boundary = sliceMs
  let last = 0
  for (const block of blocks) {
    if (block.timeMs >= boundary && block.cut > start) {
      chunks.push({ bytes: bytes.slice(start, block.cut), lastTimeMs: last })
      start = block.cut
      while (boundary <= block.timeMs) boundary += sliceMs
    }
    last = Math.max(last, block.timeMs)
  }
  chunks.push({ bytes: bytes.slice(start), lastTimeMs: last })
  return chunks
}

/** Codec names and format of a media file, via ffprobe. */
export async function probe(path: string): Promise<{ codecs: string[]; format: string; duration: number }> {
  const proc = Bun.spawn(
    [
      'ffprobe',
      '-v',
      'error',
      '-show_entries',
      'stream=codec_name:format=format_name,duration',
      '-of',
      'json',
      path,
    ],
    { stdout: 'pipe', stderr: 'pipe' },
  )
  const [text, code] = await Promise.all([new Response(proc.stdout).text(), proc.exited])
  if (code !== 0) throw new Error(`ffprobe failed on ${path}`)
  const json = JSON.parse(text) as {
    streams: Array<{ codec_name: string }>
    format: { format_name: string; duration?: string }
  }
  return {
    codecs: json.streams.map((s) => s.codec_name).sort(),
    format: json.format.format_name,
    duration: Number(json.format.duration ?? 0),
  }
}
