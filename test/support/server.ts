import { join } from 'node:path'
import type { Subprocess } from 'bun'
import { TokenService } from '../../src/identity/tokens.ts'
import { tempDir } from './tmp.ts'

export const REPO_ROOT = join(import.meta.dir, '../..')
export const TEST_JWT_SECRET = 'test-secret-that-is-long-enough-for-hs256'

export interface RunningServer {
  url: string
  port: number
  dataDir: string
  process: Subprocess<'ignore', 'pipe', 'pipe'>
  /** Everything the server printed so far (stdout and stderr). */
  output(): string
  token(sub: string, options?: { role?: 'admin'; ttlSeconds?: number }): Promise<string>
  /** Sends SIGTERM and waits for the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number>
}

/**
 * Starts the real server (`bun src/main.ts`) on port 0 with a temp DATA_DIR; resolves once it listens. A DATA_DIR
 * in `env` is used instead and left in place at `stop` (a restarted cluster instance keeps its folder).
 */
export async function startServer(env: Record<string, string> = {}): Promise<RunningServer> {
  const data = env.DATA_DIR ? { path: env.DATA_DIR, remove() {} } : tempDir('airwave-server-')
  const proc = Bun.spawn(['bun', 'src/main.ts'], {
    cwd: REPO_ROOT,
    env: {
      ...process.env,
      PORT: '0',
      HOST: '127.0.0.1',
      DATA_DIR: data.path,
      JWT_SECRET: TEST_JWT_SECRET,
      NODE_ENV: 'test',
      LOG_LEVEL: 'warn',
      AUDIO_FILES_DIR: join(data.path, 'audio'),
      ...env,
    },
    stdin: 'ignore',
    stdout: 'pipe',
    stderr: 'pipe',
  })
  let output = ''
  const collect = async (stream: ReadableStream<Uint8Array>) => {
    const decoder = new TextDecoder()
    const reader = stream.getReader()
    for (let r = await reader.read(); !r.done; r = await reader.read())
      output += decoder.decode(r.value, { stream: true })
  }
  void collect(proc.stdout)
  void collect(proc.stderr)
  const deadline = Date.now() + 120_000
  let port = 0
  while (Date.now() < deadline) {
    const match = /Airwave listening on http:\/\/[^:]+:(\d+)/.exec(output)
    if (match) {
      port = Number(match[1])
      break
    }
    if (proc.exitCode !== null) break
    await Bun.sleep(25)
  }
  if (!port) {
    proc.kill('SIGKILL')
    data.remove()
    throw new Error(`server did not start:\n${output}`)
  }
  const tokens = new TokenService(env.JWT_SECRET ?? TEST_JWT_SECRET)
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    dataDir: data.path,
    process: proc,
    output: () => output,
    token: (sub, options = {}) =>
      tokens.sign({ userId: sub, role: options.role }, options.ttlSeconds ?? 3600),
    async stop(signal = 'SIGTERM') {
      if (proc.exitCode === null) proc.kill(signal)
      const code = await proc.exited
      data.remove()
      return code
    },
  }
}
