import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { REPO_ROOT } from './server.ts'

/**
 * The Python with python-socketio 5.x that `.ci/run` installs into `.venv` (or `AIRWAVE_PYTHON`). Tests that need it
 * are skipped, with a notice on the console, only where it is missing.
 */
export const PYTHON = process.env.AIRWAVE_PYTHON ?? join(REPO_ROOT, '.venv/bin/python')
export const HAVE_PYTHON_SOCKETIO =
  existsSync(PYTHON) && Bun.spawnSync([PYTHON, '-c', 'import socketio, websocket']).exitCode === 0
if (!HAVE_PYTHON_SOCKETIO) {
  console.warn(
    `NOTICE: python-socketio tests SKIPPED: no ${PYTHON} with python-socketio and websocket-client (run .ci/run, or set AIRWAVE_PYTHON)`,
  )
}

/**
 * test/socketio/python/client.py running: a python-socketio client that prints one JSON object per line for each
 * thing it saw and takes `emit`/`call` commands.
 */
export class PythonClient {
  readonly lines: Array<Record<string, unknown>> = []
  private stderr = ''
  private readonly proc

  constructor(
    url: string,
    options: { token?: string; query?: Record<string, string>; transport?: string } = {},
  ) {
    const args = [url]
    if (options.token) args.push('--token', options.token)
    for (const [key, value] of Object.entries(options.query ?? {})) args.push('--query', `${key}=${value}`)
    if (options.transport) args.push('--transport', options.transport)
    this.proc = Bun.spawn([PYTHON, '-u', join(import.meta.dir, '../socketio/python/client.py'), ...args], {
      stdin: 'pipe',
      stdout: 'pipe',
      stderr: 'pipe',
    })
    void this.read(this.proc.stdout, (line) => {
      try {
        this.lines.push(JSON.parse(line))
      } catch {
        this.stderr += `stdout: ${line}\n`
      }
    })
    void this.read(this.proc.stderr, (line) => {
      this.stderr += `${line}\n`
    })
  }

  /** The first line matching, waiting up to `timeoutMs`. */
  async next(match: (line: Record<string, unknown>) => boolean, timeoutMs = 15_000) {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const found = this.lines.find(match)
      if (found) return found
      if (Date.now() > deadline || this.proc.exitCode !== null) {
        throw new Error(`python: no matching line; got ${JSON.stringify(this.lines)}\nstderr: ${this.stderr}`)
      }
      await Bun.sleep(25)
    }
  }

  emit(event: string, data?: unknown): void {
    this.command({ emit: event, data })
  }

  /** Emits with an acknowledgement callback; the reply is printed as `{ack: event, data}`. */
  call(event: string, data?: unknown): void {
    this.command({ call: event, data })
  }

  /** Closes stdin: the script disconnects and exits. */
  async stop(): Promise<number> {
    await this.proc.stdin.end()
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), 5000)
    const code = await this.proc.exited
    clearTimeout(timer)
    return code
  }

  private command(command: Record<string, unknown>): void {
    this.proc.stdin.write(`${JSON.stringify(command)}\n`)
    this.proc.stdin.flush()
  }

  private async read(stream: ReadableStream<Uint8Array>, onLine: (line: string) => void) {
    const decoder = new TextDecoder()
    let buffered = ''
    const reader = stream.getReader()
    for (let part = await reader.read(); !part.done; part = await reader.read()) {
      buffered += decoder.decode(part.value, { stream: true })
      let newline = buffered.indexOf('\n')
      while (newline >= 0) {
        const line = buffered.slice(0, newline).trim()
        buffered = buffered.slice(newline + 1)
        if (line) onLine(line)
        newline = buffered.indexOf('\n')
      }
    }
  }
}
