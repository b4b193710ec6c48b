/** Transcoding one uploaded call to Ogg Opus voice with FFmpeg: an exactly tested argument array and a supervised run. */
import { runTranscode, type TranscodeBounds, transcodeArgs } from './audio-transcode.ts'

/** libopus complexity when none is given: FFmpeg's own default. */
const FFMPEG_DEFAULT_COMPLEXITY = 10

/**
 * The exact FFmpeg invocation: first audio stream, mono 16 kHz, libopus at 16 kbit/s in 100 ms packets (the radio
 * ingest's packet size, so a call's chunks are the same size as a live slot's) at `complexity`, Ogg out.
 */
export function opusVoiceArgs(
  ffmpegPath: string,
  inputPath: string,
  outputPath: string,
  bounds: TranscodeBounds & { complexity?: number },
): string[] {
  return transcodeArgs(
    ffmpegPath,
    inputPath,
    outputPath,
    [
      '-ac',
      '1',
      '-ar',
      '16000',
      '-c:a',
      'libopus',
      '-b:a',
      '16k',
      '-application',
      'voip',
      '-frame_duration',
      '100',
      '-compression_level',
      String(bounds.complexity ?? FFMPEG_DEFAULT_COMPLEXITY),
    ],
    'ogg',
    bounds,
  )
}

/** Transcodes `inputPath` to Ogg Opus at `outputPath`; undecodable input is UnreadableAudioError. */
export function transcodeToOpusVoice(
  ffmpegPath: string,
  inputPath: string,
  outputPath: string,
  options: TranscodeBounds & { timeoutMs: number; complexity?: number },
): Promise<void> {
  return runTranscode(
    opusVoiceArgs(ffmpegPath, inputPath, outputPath, options),
    { inputPath, outputPath },
    'FFmpeg could not read it as audio',
    options,
  )
}
