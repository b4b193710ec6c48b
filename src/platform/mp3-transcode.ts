/** Transcoding one uploaded audio file to MP3 with FFmpeg: an exactly tested argument array and a supervised run. */
import { runTranscode, type TranscodeBounds, transcodeArgs } from './audio-transcode.ts'

export interface Mp3EncodeOptions extends TranscodeBounds {
  /** Constant bitrate: browsers seek a CBR MP3 by byte offset precisely. */
  bitrateKbps: number
}

/** The exact FFmpeg invocation: first audio stream only, tags dropped, CBR libmp3lame with a Xing/Info header. */
export function mp3TranscodeArgs(
  ffmpegPath: string,
  inputPath: string,
  outputPath: string,
  options: Mp3EncodeOptions,
): string[] {
  return transcodeArgs(
    ffmpegPath,
    inputPath,
    outputPath,
    ['-c:a', 'libmp3lame', '-b:a', `${options.bitrateKbps}k`],
    'mp3',
    options,
  )
}

/**
 * Transcodes `inputPath` to MP3 at `outputPath`. A file FFmpeg cannot decode becomes UnreadableAudioError with
 * FFmpeg's last error line (without server paths); timeouts and cancellation stay ProcessErrors.
 */
export function transcodeToMp3(
  ffmpegPath: string,
  inputPath: string,
  outputPath: string,
  options: Mp3EncodeOptions & { timeoutMs: number; signal?: AbortSignal },
): Promise<void> {
  return runTranscode(
    mp3TranscodeArgs(ffmpegPath, inputPath, outputPath, options),
    { inputPath, outputPath },
    'FFmpeg could not convert it to MP3',
    options,
  )
}
