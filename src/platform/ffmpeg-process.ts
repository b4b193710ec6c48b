import type { FileSink, Subprocess } from 'bun'

/** Bytes of stderr kept for error messages; older output is dropped as new output arrives. */
const STDERR_TAIL_BYTES = 4096
/** A stderr line longer than this is cut to this length. */
const MAX_LINE_BYTES = 4096

/** Where a running FFmpeg's output goes. */
export interface FfmpegOutputs {
  /**
   * Each line FFmpeg writes to stderr (`pipe:2`): its warnings, and the status lines it was told to print there
   * (segment list, `-progress`). Returns true for a status line, which is kept out of the error tail.
   */
  onStderrLine(line: string): boolean
  /** Bytes FFmpeg writes to stdout (`pipe:1`), in order, as they arrive. */
  onOutput(bytes: Uint8Array): void
}

/** One running FFmpeg child with a writable stdin, its stdout bytes, stderr lines and a bounded tail of its errors. */
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
  /** The exit code (a signal exit gives null), once everything FFmpeg wrote to stdout and stderr has been handed on. */
  readonly exited: Promise<number | null>
  /** The last few KiB of stderr that were not status lines (FFmpeg's warnings and errors). */
  stderrTail(): string
}

/**
 * Spawns FFmpeg with an argument array (never a shell). stdout carries media (fragmented MP4) and is handed
 * on as bytes; stderr is split into lines. Both are drained as they come, or FFmpeg would block once a pipe
 * filled.
 */
export function spawnFfmpeg(
  ffmpegPath: string,
  args: readonly string[],
  outputs: FfmpegOutputs,
): FfmpegProcess {
  const proc: Subprocess<'pipe', 'pipe', 'pipe'> = Bun.spawn([ffmpegPath, ...args], {
    stdin: 'pipe',
    stdout: 'pipe',
    stderr: 'pipe',
  })
  let tail = ''
  const line = (text: string) => {
    if (text.trim() === '' || outputs.onStderrLine(text)) return
    tail = `${tail}${text.slice(0, MAX_LINE_BYTES)}\n`.slice(-STDERR_TAIL_BYTES)
  }
  const decoder = new TextDecoder()
  let partial = ''
  const stderrDrained = drain(proc.stderr, (bytes) => {
    const lines = (partial + decoder.decode(bytes, { stream: true })).split('\n')
    partial = (lines.pop() ?? '').slice(0, MAX_LINE_BYTES)
    for (const text of lines) line(text)
  }).then(() => line(partial))
  const outputDrained = drain(proc.stdout, outputs.onOutput)
  const stdin: FileSink = proc.stdin
  let running = true
  const exited = proc.exited.then(async () => {
    running = false
    await Promise.all([stderrDrained, outputDrained])
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
    stderrTail: () => tail.trim(),
  }
}

async function drain(
  stream: ReadableStream<Uint8Array>,
  onBytes: (bytes: Uint8Array) => void,
): Promise<void> {
  const reader = stream.getReader()
  try {
    for (let read = await reader.read(); !read.done; read = await reader.read()) onBytes(read.value)
  } catch {
    // The pipe closes when FFmpeg exits; nothing else to do.
  }
}
