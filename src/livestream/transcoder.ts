import { fromCallback } from 'xstate'
import type {
  MediaBytes,
  TranscoderCommand,
  TranscoderEvent,
  TranscoderInput,
} from '../../actors/livestream.machine.ts'
import type { FfmpegProcess } from '../platform/ffmpeg-process.ts'
import { isProgressLine, parseProgressLine, parseSegmentListLine } from './hls-args.ts'

/**
 * Starts FFmpeg for one run; the arguments: the run's input, and where its stderr lines go (the callback
 * answers true for a status line: segment list or `-progress`, not an error message).
 */
export type SpawnTranscoder = (
  input: TranscoderInput,
  onStatusLine: (line: string) => boolean,
) => FfmpegProcess

/**
 * The FFmpeg child of a livestream, as an XState callback actor. Chunks queue in order and are written one
 * at a time, each waiting for the pipe (back-pressure); past `maxQueuedBytes` FFmpeg is reported
 * overloaded and the chunk is dropped instead of growing memory. Segment-list lines (on stderr) become
 * `ffmpeg.segment`, an output time that moved on becomes `ffmpeg.progress` (a repeated one is dropped), the
 * exit becomes `ffmpeg.exited`, and stopping the actor kills FFmpeg.
 */
export function transcoderLogic(spawn: SpawnTranscoder, maxQueuedBytes: number) {
  return fromCallback<TranscoderCommand, TranscoderInput, TranscoderEvent>(({ input, sendBack, receive }) => {
    const { run } = input
    let stopped = false
    let outTimeUs = -1
    const proc = spawn(input, (line) => {
      const segment = parseSegmentListLine(line)
      if (segment) {
        if (!stopped) sendBack({ type: 'ffmpeg.segment', run, ...segment })
        return true
      }
      const progress = parseProgressLine(line)
      if (progress !== undefined && progress > outTimeUs && !stopped) {
        outTimeUs = progress
        sendBack({ type: 'ffmpeg.progress', run, outTimeUs })
      }
      return isProgressLine(line)
    })
    void proc.exited.then((code) => {
      if (!stopped) sendBack({ type: 'ffmpeg.exited', run, code, detail: proc.stderrTail() })
    })

    const queue: MediaBytes[] = []
    let queuedBytes = 0
    let pumping = false
    let finishing = false
    let overloaded = false
    const pump = async () => {
      if (pumping) return
      pumping = true
      try {
        for (let chunk = queue.shift(); chunk; chunk = queue.shift()) {
          queuedBytes -= chunk.bytes.byteLength
          await proc.write(chunk.bytes)
        }
        if (finishing) await proc.end()
      } catch {
        // EPIPE: FFmpeg is gone and `exited` reports it; what is still queued is of no use.
        queue.length = 0
        queuedBytes = 0
      } finally {
        pumping = false
      }
    }
    const enqueue = (chunk: MediaBytes) => {
      if (queuedBytes + chunk.bytes.byteLength > maxQueuedBytes) {
        if (!overloaded) sendBack({ type: 'ffmpeg.overloaded', run })
        overloaded = true
        return
      }
      queue.push(chunk)
      queuedBytes += chunk.bytes.byteLength
      void pump()
    }

    if (input.preamble) enqueue(input.preamble)
    receive((command) => {
      if (command.type === 'write' && !finishing) enqueue(command.chunk)
      else if (command.type === 'finish') {
        finishing = true
        void pump()
      }
    })
    return () => {
      stopped = true
      proc.kill()
    }
  })
}
