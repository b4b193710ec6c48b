/**
 * Runs a short-lived child process (ffprobe, a file transcode) to completion with bounded output, a timeout
 * and cancellation. The argument array goes to the OS as is: never through a shell.
 */

export interface RunOptions {
  /** The child is killed (SIGKILL) when it runs longer than this. */
  timeoutMs: number
  /** Aborting kills the child at once, e.g. when the job that started it is stopped. */
  signal?: AbortSignal
  /** stdout beyond this many bytes kills the child: a probe's JSON is small, anything bigger is hostile input. */
  maxStdoutBytes?: number
  /** How much of the end of stderr is kept for the error message. */
  stderrTailBytes?: number
}

export interface RunResult {
  stdout: string
  stderrTail: string
}

export type ProcessFailure = 'spawn' | 'timeout' | 'aborted' | 'exit' | 'output-limit'

/** Why a child process did not succeed; `stderrTail` holds its last words. */
export class ProcessError extends Error {
  override name = 'ProcessError'
  constructor(
    readonly kind: ProcessFailure,
    message: string,
    readonly exitCode: number | null = null,
    readonly stderrTail = '',
  ) {
    super(message)
  }
}

const DEFAULT_MAX_STDOUT = 1024 * 1024
const DEFAULT_STDERR_TAIL = 4096

/**
 * Resolves with stdout (UTF-8) and the tail of stderr when the process exits 0; otherwise rejects with a
 * ProcessError. Both pipes are drained as the child writes, so a chatty child never blocks on a full pipe.
 */
export async function runProcess(argv: string[], options: RunOptions): Promise<RunResult> {
  const maxStdout = options.maxStdoutBytes ?? DEFAULT_MAX_STDOUT
  const tailBytes = options.stderrTailBytes ?? DEFAULT_STDERR_TAIL
  options.signal?.throwIfAborted()
  let proc: Bun.Subprocess<'ignore', 'pipe', 'pipe'>
  try {
    proc = Bun.spawn(argv, { stdin: 'ignore', stdout: 'pipe', stderr: 'pipe' })
  } catch (error) {
    throw new ProcessError('spawn', `could not start ${argv[0]}: ${(error as Error).message}`)
  }

  let failure: ProcessFailure | undefined
  const kill = (why: ProcessFailure) => {
    failure ??= why
    proc.kill('SIGKILL')
  }
  const timer = setTimeout(() => kill('timeout'), options.timeoutMs)
  const onAbort = () => kill('aborted')
  options.signal?.addEventListener('abort', onAbort, { once: true })

  const readStdout = async () => {
    const chunks: Uint8Array[] = []
    let size = 0
    for await (const chunk of chunksOf(proc.stdout)) {
      size += chunk.length
      if (size > maxStdout) {
        kill('output-limit')
        continue
      }
      chunks.push(chunk)
    }
    return Buffer.concat(chunks).toString('utf8')
  }
  const readStderrTail = async () => {
    let tail = Buffer.alloc(0)
    for await (const chunk of chunksOf(proc.stderr)) {
      tail = Buffer.concat([tail, chunk])
      if (tail.length > tailBytes) tail = tail.subarray(tail.length - tailBytes)
    }
    return tail.toString('utf8').trim()
  }

  try {
    const [stdout, stderrTail, exitCode] = await Promise.all([readStdout(), readStderrTail(), proc.exited])
    if (failure === 'timeout') {
      throw new ProcessError(
        'timeout',
        `${argv[0]} took longer than ${options.timeoutMs} ms`,
        null,
        stderrTail,
      )
    }
    if (failure === 'aborted') throw new ProcessError('aborted', `${argv[0]} was cancelled`, null, stderrTail)
    if (failure === 'output-limit') {
      throw new ProcessError(
        'output-limit',
        `${argv[0]} wrote more than ${maxStdout} bytes`,
        null,
        stderrTail,
      )
    }
    if (exitCode !== 0) {
      throw new ProcessError('exit', `${argv[0]} exited with ${exitCode}`, exitCode, stderrTail)
    }
    return { stdout, stderrTail }
  } finally {
    clearTimeout(timer)
    options.signal?.removeEventListener('abort', onAbort)
  }
}

async function* chunksOf(stream: ReadableStream<Uint8Array>): AsyncGenerator<Uint8Array> {
  const reader = stream.getReader()
  try {
    for (let read = await reader.read(); !read.done; read = await reader.read()) yield read.value
  } finally {
    reader.releaseLock()
  }
}
