/**
 * A private redis-server for one test file, on its own port: cluster tests stop and restart it mid-test (a Redis
 * outage) without touching the machine's shared Redis or other tests' keys.
 */
import type { Subprocess } from 'bun'
import { freePort } from './audio.ts'
import { tempDir } from './tmp.ts'

export const REDIS_SERVER_PATH = process.env.REDIS_SERVER_PATH ?? 'redis-server'

export interface PrivateRedis {
  url: string
  port: number
  /** The running server's process id (for CPU accounting in benches). */
  readonly pid: number
  /** Kills the server (SIGKILL: an outage, not a shutdown). */
  kill(): Promise<void>
  /** Starts it again on the same port, empty (it keeps nothing on disk). */
  restart(): Promise<void>
  stop(): Promise<void>
}

/** Whether redis-server can be run here (the cluster tests need it). */
export function redisServerAvailable(): boolean {
  return Bun.which(REDIS_SERVER_PATH) !== null
}

export async function startPrivateRedis(): Promise<PrivateRedis> {
  const port = freePort()
  const dir = tempDir('airwave-redis-')
  let proc: Subprocess | undefined
  const launch = async () => {
    proc = Bun.spawn(
      [REDIS_SERVER_PATH, '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      { cwd: dir.path, stdin: 'ignore', stdout: 'ignore', stderr: 'ignore' },
    )
    const deadline = Date.now() + 10_000
    while (Date.now() < deadline) {
      try {
        const socket = await Bun.connect({ hostname: '127.0.0.1', port, socket: { data() {} } })
        socket.end()
        return
      } catch {
        await Bun.sleep(25)
      }
    }
    throw new Error(`redis-server did not start on port ${port}`)
  }
  const kill = async () => {
    if (proc && proc.exitCode === null) {
      proc.kill('SIGKILL')
      await proc.exited
    }
  }
  await launch()
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    get pid() {
      return proc?.pid ?? 0
    },
    kill,
    restart: launch,
    async stop() {
      await kill()
      dir.remove()
    },
  }
}
