/** Probing uploaded audio with ffprobe: exact argument arrays, a parsed summary and readable failures. */
import { basename, dirname, join } from 'node:path'
import { ProcessError, runProcess } from './process.ts'

/**
 * Demuxers an upload may be read with. Anything else (HLS or concat playlists, image sequences, devices) could
 * make FFmpeg open other files or URLs named inside an upload, so it is refused before any decoding.
 */
export const AUDIO_DEMUXERS = [
  'mp3',
  'wav',
  'w64',
  'flac',
  'ogg',
  'mov',
  'matroska',
  'aac',
  'aiff',
  'caf',
  'asf',
]

/** Input options shared by ffprobe and ffmpeg for untrusted files: local files only, audio demuxers only. */
export function untrustedInputArgs(): string[] {
  return ['-protocol_whitelist', 'file', '-format_whitelist', AUDIO_DEMUXERS.join(',')]
}

/** ffprobe lives next to ffmpeg: `/opt/ff/bin/ffmpeg` → `/opt/ff/bin/ffprobe`; a bare `ffmpeg` → `ffprobe` on PATH. */
export function ffprobePathFor(ffmpegPath: string): string {
  const name = basename(ffmpegPath).replace(/ffmpeg/i, 'ffprobe')
  const probe = name === basename(ffmpegPath) ? 'ffprobe' : name
  return ffmpegPath.includes('/') ? join(dirname(ffmpegPath), probe) : probe
}

/** The exact ffprobe invocation: JSON with the container and every stream, errors only on stderr. */
export function probeArgs(ffprobePath: string, inputPath: string): string[] {
  return [
    ffprobePath,
    '-hide_banner',
    '-v',
    'error',
    ...untrustedInputArgs(),
    '-print_format',
    'json',
    '-show_format',
    '-show_streams',
    inputPath,
  ]
}

/** What processing needs to know about an audio file. */
export interface AudioProbe {
  /** FFmpeg's demuxer name, e.g. `mp3`, `wav`, `mov,mp4,m4a,3gp,3g2,mj2`. */
  formatName: string
  /** The first audio stream's codec, e.g. `mp3`, `aac`, `pcm_s16le`. */
  codecName: string
  /** Seconds. */
  duration: number
  sampleRate: number | null
  channels: number | null
  bitRate: number | null
}

/** The file is not something we can use as audio; the message is fit to show the uploader. */
export class UnreadableAudioError extends Error {
  override name = 'UnreadableAudioError'
}

interface ProbeJson {
  format?: { format_name?: string; duration?: string; bit_rate?: string }
  streams?: Array<{
    codec_type?: string
    codec_name?: string
    duration?: string
    sample_rate?: string
    channels?: number
    bit_rate?: string
  }>
}

const positive = (value: string | number | undefined): number | null => {
  const n = Number(value)
  return Number.isFinite(n) && n > 0 ? n : null
}

/** Reads ffprobe's JSON. Throws UnreadableAudioError when there is no audio stream or no usable duration. */
export function parseProbe(json: string): AudioProbe {
  let parsed: ProbeJson
  try {
    parsed = JSON.parse(json) as ProbeJson
  } catch {
    throw new UnreadableAudioError('ffprobe gave no readable description of the file')
  }
  const audio = parsed.streams?.find((stream) => stream.codec_type === 'audio')
  if (!parsed.format?.format_name || !audio?.codec_name) {
    throw new UnreadableAudioError('the file has no audio stream')
  }
  const duration = positive(parsed.format.duration) ?? positive(audio.duration)
  if (duration === null) throw new UnreadableAudioError('the audio has no measurable duration')
  return {
    formatName: parsed.format.format_name,
    codecName: audio.codec_name,
    duration,
    sampleRate: positive(audio.sample_rate),
    channels: positive(audio.channels),
    bitRate: positive(audio.bit_rate) ?? positive(parsed.format.bit_rate),
  }
}

/** ffprobe's last error line without the server-side path it names, e.g. `Invalid data found when processing input`. */
export function probeFailureReason(stderrTail: string, inputPath: string): string {
  const lines = stderrTail.split('\n').filter((line) => line.trim() !== '')
  const last = lines.at(-1)?.replaceAll(`${inputPath}: `, '').replaceAll(inputPath, 'the file')
  return last?.trim() || 'ffprobe could not read it'
}

/** Probes `inputPath`. Throws UnreadableAudioError for anything that is not usable audio; ProcessError otherwise. */
export async function probeAudio(
  ffprobePath: string,
  inputPath: string,
  options: { timeoutMs: number; signal?: AbortSignal },
): Promise<AudioProbe> {
  try {
    const { stdout } = await runProcess(probeArgs(ffprobePath, inputPath), {
      ...options,
      maxStdoutBytes: 256 * 1024,
    })
    return parseProbe(stdout)
  } catch (error) {
    if (error instanceof ProcessError && error.kind === 'exit') {
      throw new UnreadableAudioError(probeFailureReason(error.stderrTail, inputPath))
    }
    throw error
  }
}
