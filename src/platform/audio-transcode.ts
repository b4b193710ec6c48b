/**
 * What every one-file audio transcode shares (audiobook chapters to MP3, scanner calls to Opus): the argument array
 * around the encoder's own options, and a supervised run whose decoding failures read as UnreadableAudioError.
 */
import { UnreadableAudioError, untrustedInputArgs } from './ffprobe.ts'
import { ProcessError, runProcess } from './process.ts'

export interface TranscodeBounds {
  /** FFmpeg stops after this much audio. */
  maxSeconds: number
  /** FFmpeg stops writing past this many bytes. */
  maxOutputBytes: number
}

/**
 * `ffmpeg` reading only local audio files, first audio stream, tags dropped, then `encoderArgs`, the bounds and the
 * output format.
 */
export function transcodeArgs(
  ffmpegPath: string,
  inputPath: string,
  outputPath: string,
  encoderArgs: string[],
  format: string,
  bounds: TranscodeBounds,
): string[] {
  return [
    ffmpegPath,
    '-hide_banner',
    '-nostdin',
    '-v',
    'error',
    ...untrustedInputArgs(),
    '-i',
    inputPath,
    '-map',
    '0:a:0',
    '-map_metadata',
    '-1',
    ...encoderArgs,
    '-t',
    String(bounds.maxSeconds),
    '-fs',
    String(bounds.maxOutputBytes),
    '-f',
    format,
    '-y',
    outputPath,
  ]
}

/**
 * Runs `argv` (made by `transcodeArgs`). A file FFmpeg cannot decode becomes UnreadableAudioError: `failure`, then
 * FFmpeg's last error line without server paths; timeouts and cancellation stay ProcessErrors.
 */
export async function runTranscode(
  argv: string[],
  paths: { inputPath: string; outputPath: string },
  failure: string,
  options: { timeoutMs: number; signal?: AbortSignal },
): Promise<void> {
  try {
    await runProcess(argv, {
      timeoutMs: options.timeoutMs,
      signal: options.signal,
      maxStdoutBytes: 64 * 1024,
    })
  } catch (error) {
    if (error instanceof ProcessError && error.kind === 'exit') {
      const last = error.stderrTail.split('\n').filter((line) => line.trim() !== '')
      const reason = (last.at(-1) ?? `exit code ${error.exitCode}`)
        .replaceAll(paths.inputPath, 'the file')
        .replaceAll(paths.outputPath, 'the output')
      throw new UnreadableAudioError(`${failure}: ${reason.trim()}`)
    }
    throw error
  }
}
