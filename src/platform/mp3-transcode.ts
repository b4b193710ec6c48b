/** Transcoding one uploaded audio file to MP3 with FFmpeg: an exactly tested argument array and a supervised run. */
import { UnreadableAudioError, untrustedInputArgs } from './ffprobe.ts'
import { ProcessError, runProcess } from './process.ts'

export interface Mp3EncodeOptions {
  /** Constant bitrate: browsers seek a CBR MP3 by byte offset precisely. */
  bitrateKbps: number
  /** FFmpeg stops after this much audio, a backstop behind the probed-duration check. */
  maxSeconds: number
  /** FFmpeg stops writing past this many bytes; the caller treats an output this large as a failure. */
  maxOutputBytes: number
}

/** The exact FFmpeg invocation: first audio stream only, tags dropped, CBR libmp3lame with a Xing/Info header. */
export function mp3TranscodeArgs(
  ffmpegPath: string,
  inputPath: string,
  outputPath: string,
  options: Mp3EncodeOptions,
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
    '-c:a',
    'libmp3lame',
    '-b:a',
    `${options.bitrateKbps}k`,
    '-t',
    String(options.maxSeconds),
    '-fs',
    String(options.maxOutputBytes),
    '-f',
    'mp3',
    '-y',
    outputPath,
  ]
}

/**
 * Transcodes `inputPath` to MP3 at `outputPath`. A file FFmpeg cannot decode becomes UnreadableAudioError with
 * FFmpeg's last error line (without server paths); timeouts and cancellation stay ProcessErrors.
 */
export async function transcodeToMp3(
  ffmpegPath: string,
  inputPath: string,
  outputPath: string,
  options: Mp3EncodeOptions & { timeoutMs: number; signal?: AbortSignal },
): Promise<void> {
  try {
    await runProcess(mp3TranscodeArgs(ffmpegPath, inputPath, outputPath, options), {
      timeoutMs: options.timeoutMs,
      signal: options.signal,
      maxStdoutBytes: 64 * 1024,
    })
  } catch (error) {
    if (error instanceof ProcessError && error.kind === 'exit') {
      const last = error.stderrTail.split('\n').filter((line) => line.trim() !== '')
      const reason = (last.at(-1) ?? `exit code ${error.exitCode}`)
        .replaceAll(inputPath, 'the file')
        .replaceAll(outputPath, 'the output')
      throw new UnreadableAudioError(`FFmpeg could not convert it to MP3: ${reason.trim()}`)
    }
    throw error
  }
}
