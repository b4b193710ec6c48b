import { join } from 'node:path'

/** What one FFmpeg run needs to turn a live WebM stream on stdin into HLS MPEG-TS segments and fragmented MP4. */
export interface HlsTranscodeOptions {
  /** Directory that receives `segment_N.ts`. */
  outputDir: string
  /** Target segment length in seconds; keyframes are forced on these boundaries. */
  segmentSeconds: number
  /** N of the first segment this run writes, so numbering continues across restarts. */
  startNumber: number
  /** x264 preset, e.g. `veryfast`. */
  x264Preset: string
  /** Output frame rate: MediaRecorder's variable rate becomes this constant one. */
  frameRate: number
  /** Length of each fMP4 fragment (an LL-HLS part) in seconds; a keyframe also starts one. */
  fragmentSeconds: number
}

/** The file name FFmpeg gives segment `n`; the playlist and the HTTP route use the same. */
export function segmentFileName(n: number): string {
  return `segment_${n}.ts`
}

/** Escapes a tee slave's file name, parsed once by the tee muxer. */
function teeFileName(value: string): string {
  return value.replace(/[\\|[\]]/g, '\\$&')
}

/** Escapes a value in a tee slave's options (`key=value:…`): parsed as options, inside what tee parses. */
function teeOption(value: string): string {
  return teeFileName(value.replace(/[\\:]/g, '\\$&'))
}

/**
 * FFmpeg's arguments (without the binary) for one transcoding run: WebM (VP8/VP9 + Opus/Vorbis) on stdin to
 * H.264 + AAC, encoded once (`-tune zerolatency`, constant frame rate, a keyframe forced every
 * `segmentSeconds`) and muxed twice by the tee muxer: MPEG-TS segments `segment_N.ts` as before, and
 * fragmented MP4 on stdout (ftyp + moov, then one moof + mdat every `fragmentSeconds` and at each keyframe)
 * for the LL-HLS packager. `+global_header` puts SPS/PPS in the MP4 init segment; the MPEG-TS muxer
 * repeats them before each keyframe itself. Status goes to stderr beside FFmpeg's warnings: the segment muxer prints
 * `segment_N.ts,start,end` as each segment is complete (the server builds `stream.m3u8` from those lines),
 * and `-progress` prints `key=value` blocks about twice a second whose `out_time_us` tells a slow FFmpeg
 * (still advancing) from a stuck one.
 */
export function buildHlsArgs(options: HlsTranscodeOptions): string[] {
  const seconds = String(options.segmentSeconds)
  const segments = [
    'f=segment',
    'segment_format=mpegts',
    `segment_time=${seconds}`,
    `segment_start_number=${options.startNumber}`,
    `segment_list=${teeOption('pipe:2')}`,
    'segment_list_type=csv',
  ].join(':')
  const fragments = [
    'f=mp4',
    'movflags=empty_moov+default_base_moof+frag_keyframe',
    `frag_duration=${Math.round(options.fragmentSeconds * 1_000_000)}`,
  ].join(':')
  return [
    '-hide_banner',
    '-nostdin',
    '-loglevel',
    'warning',
    '-progress',
    'pipe:2',
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
    '-fps_mode',
    'cfr',
    '-r',
    String(options.frameRate),
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
    '-flags',
    '+global_header',
    '-f',
    'tee',
    `[${segments}]${teeFileName(join(options.outputDir, 'segment_%d.ts'))}|[${fragments}]pipe:1`,
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

/** True for any line of a `-progress` block (`key=value`, e.g. `frame=42`, `speed=1.01x`): status, not an error. */
export function isProgressLine(line: string): boolean {
  return /^[a-z][a-z0-9_]*=/.test(line.trim())
}
