/** Transcoding one uploaded call to Ogg Opus voice with FFmpeg: an exactly tested argument array and a supervised run. */
import { UnreadableAudioError, untrustedInputArgs } from './ffprobe.ts'
import { ProcessError, runProcess } from './process.ts'

export interface OpusVoiceOptions {
  /** FFmpeg stops after this much audio. */
  maxSeconds: number
  /** FFmpeg stops writing past this many bytes. */
  maxOutputBytes: number
}

/**
 * The exact FFmpeg invocation: first audio stream, mono 16 kHz, libopus at 16 kbit/s in 100 ms packets (the radio
 * ingest's packet size, so a call's chunks are the same size as a live slot's), Ogg out.
 */
export function opusVoiceArgs(
  ffmpegPath: string,
  inputPath: string,
  outputPath: string,
  options: OpusVoiceOptions,
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
    '-t',
    String(options.maxSeconds),
    '-fs',
    String(options.maxOutputBytes),
    '-f',
    'ogg',
    '-y',
    outputPath,
  ]
}

/** Transcodes `inputPath` to Ogg Opus at `outputPath`; undecodable input is UnreadableAudioError. */
export async function transcodeToOpusVoice(
  ffmpegPath: string,
  inputPath: string,
  outputPath: string,
  options: OpusVoiceOptions & { timeoutMs: number },
): Promise<void> {
  try {
    await runProcess(opusVoiceArgs(ffmpegPath, inputPath, outputPath, options), {
      timeoutMs: options.timeoutMs,
      maxStdoutBytes: 64 * 1024,
    })
  } catch (error) {
    if (error instanceof ProcessError && error.kind === 'exit') {
      const last = error.stderrTail.split('\n').filter((line) => line.trim() !== '')
      const reason = (last.at(-1) ?? `exit code ${error.exitCode}`)
        .replaceAll(inputPath, 'the file')
        .replaceAll(outputPath, 'the output')
      throw new UnreadableAudioError(`FFmpeg could not read it as audio: ${reason.trim()}`)
    }
    throw error
  }
}
