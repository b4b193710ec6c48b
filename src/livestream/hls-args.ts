import { join } from 'node:path'

/** What one FFmpeg run needs to turn a live WebM stream on stdin into HLS MPEG-TS segments. */
export interface HlsTranscodeOptions {
  /** Directory that receives `segment_N.ts`. */
  outputDir: string
  /** Target segment length in seconds; keyframes are forced on these boundaries. */
  segmentSeconds: number
  /** N of the first segment this run writes, so numbering continues across restarts. */
  startNumber: number
  /** x264 preset, e.g. `veryfast`. */
  x264Preset: string
}

/** The file name FFmpeg gives segment `n`; the playlist and the HTTP route use the same. */
export function segmentFileName(n: number): string {
  return `segment_${n}.ts`
}

/**
 * FFmpeg's arguments (without the binary) for one transcoding run: WebM (VP8/VP9 + Opus/Vorbis) on stdin to
 * H.264 + AAC MPEG-TS segments, a keyframe forced every `segmentSeconds` so each segment starts with one.
 * The segment muxer prints `segment_N.ts,start,end` on stdout as each segment is complete; the server
 * builds the playlist from those lines, so FFmpeg never writes `stream.m3u8` itself. `-progress` prints
 * `key=value` blocks on the same stdout about twice a second; their `out_time_us` tells a slow FFmpeg
 * (still advancing) from a stuck one.
 */
export function buildHlsArgs(options: HlsTranscodeOptions): string[] {
  const seconds = String(options.segmentSeconds)
  return [
    '-hide_banner',
    '-nostdin',
    '-loglevel',
    'warning',
    '-progress',
    'pipe:1',
    '-f',
    'webm',
    '-i',
    'pipe:0',
    '-map',
    '0:v:0?',
    '-map',
    '0:a:0?',
    '-c:v',
    'libx264',
    '-preset',
    options.x264Preset,
    '-tune',
    'zerolatency',
    '-pix_fmt',
    'yuv420p',
    '-force_key_frames',
    `expr:gte(t,n_forced*${seconds})`,
    '-sc_threshold',
    '0',
    '-c:a',
    'aac',
    '-b:a',
    '128k',
    '-ar',
    '48000',
    '-ac',
    '2',
    '-f',
    'segment',
    '-segment_format',
    'mpegts',
    '-segment_time',
    seconds,
    '-segment_start_number',
    String(options.startNumber),
    '-segment_list',
    'pipe:1',
    '-segment_list_type',
    'csv',
    join(options.outputDir, 'segment_%d.ts'),
  ]
}

/**
 * Parses one line of FFmpeg's CSV segment list (`segment_7.ts,14.000000,16.000000`) into the segment's
 * number and duration, or undefined for anything else.
 */
export function parseSegmentListLine(line: string): { number: number; duration: number } | undefined {
  const match = /^(?:.*\/)?segment_(\d+)\.ts,(-?[\d.]+),(-?[\d.]+)$/.exec(line.trim())
  if (!match) return undefined
  const duration = Number(match[3]) - Number(match[2])
  if (!Number.isFinite(duration) || duration < 0) return undefined
  return { number: Number(match[1]), duration }
}

/**
 * Parses one `-progress` line: `out_time_us=N` gives how far FFmpeg's output has got, in microseconds;
 * anything else (other keys, `N/A` before the first packet, segment lines) gives undefined.
 */
export function parseProgressLine(line: string): number | undefined {
  const match = /^out_time_us=(\d+)$/.exec(line.trim())
  return match ? Number(match[1]) : undefined
}
