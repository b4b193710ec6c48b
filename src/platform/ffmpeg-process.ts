import type { FileSink, Subprocess } from 'bun'

/** Bytes of stderr kept for error messages; older output is dropped as new output arrives. */
const STDERR_TAIL_BYTES = 4096
/** A stdout line longer than this is not a segment-list line; it is dropped rather than buffered. */
const MAX_LINE_BYTES = 4096

/** One running FFmpeg child with a writable stdin, line-by-line stdout and a bounded stderr tail. */
export interface FfmpegProcess {
  readonly pid: number
  /**
   * Writes `bytes` to FFmpeg's stdin and resolves once the pipe has taken them: when the pipe is full,
   * `FileSink.write` returns a promise and this waits for it, so callers feel the back-pressure.
   * Rejects (EPIPE) when FFmpeg has exited.
   */
  write(bytes: Uint8Array): Promise<void>
  /** Closes stdin: FFmpeg finishes its last segment and exits. */
  end(): Promise<void>
  /** SIGKILL, if it is still running. */
  kill(): void
  /** The exit code (a signal exit gives null). */
  readonly exited: Promise<number | null>
  /** The last few KiB of stderr (FFmpeg's warnings and errors). */
  stderrTail(): string
}

/**
 * Spawns FFmpeg with an argument array (never a shell). stdout is split into lines for `onStdoutLine`;
 * stderr is always drained, or FFmpeg would block once its pipe filled.
 */
export function spawnFfmpeg(
  ffmpegPath: string,
  args: readonly string[],
  onStdoutLine: (line: string) => void,
): FfmpegProcess {
  const proc: Subprocess<'pipe', 'pipe', 'pipe'> = Bun.spawn([ffmpegPath, ...args], {
    stdin: 'pipe',
    stdout: 'pipe',
    stderr: 'pipe',
  })
  let stderr = ''
  void drain(proc.stderr, (text) => {
    stderr = (stderr + text).slice(-STDERR_TAIL_BYTES)
  })
  let partial = ''
  void drain(proc.stdout, (text) => {
    const lines = (partial + text).split('\n')
    partial = lines.pop() ?? ''
    if (partial.length > MAX_LINE_BYTES) partial = ''
    for (const line of lines) if (line.trim() !== '') onStdoutLine(line)
  })
  const stdin: FileSink = proc.stdin
  let running = true
  const exited = proc.exited.then(() => {
    running = false
    return proc.exitCode
  })
  return {
    pid: proc.pid,
    async write(bytes) {
      if (!running) throw Object.assign(new Error('FFmpeg has exited'), { code: 'EPIPE' })
      await stdin.write(bytes)
      await stdin.flush()
    },
    async end() {
      if (!running) return
      try {
        await stdin.end()
      } catch {
        // FFmpeg exited meanwhile (EPIPE): `exited` reports it.
      }
    },
    kill() {
      if (running) proc.kill('SIGKILL')
    },
    exited,
    stderrTail: () => stderr.trim(),
  }
}

async function drain(stream: ReadableStream<Uint8Array>, onText: (text: string) => void): Promise<void> {
  const decoder = new TextDecoder()
  const reader = stream.getReader()
  try {
    for (let read = await reader.read(); !read.done; read = await reader.read()) {
      onText(decoder.decode(read.value, { stream: true }))
    }
  } catch {
    // The pipe closes when FFmpeg exits; nothing else to do.
  }
}
