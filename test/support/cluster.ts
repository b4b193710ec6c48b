/**
 * A real Airwave cluster for integration tests: a private redis-server, a fresh PostgreSQL database on the
 * TEST_DATABASE_URL server, shared S3 storage (s3rver in this process), N instances of the real server
 * (`bun src/main.ts`, each with its own port, DATA_DIR and INSTANCE_ID, the same JWT_SECRET and track folder) and
 * real nginx round-robin in front with the deployment's own template (deploy/nginx/airwave.conf.template).
 *
 * Instances keep their port and DATA_DIR across `kill`/`restart`, so nginx's upstream list stays right and a
 * restarted instance is the same instance to the cluster.
 */
import { mkdirSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import postgres from 'postgres'
import S3rver from 's3rver'
import { freePort } from './audio.ts'
import { createPostgresDatabase } from './databases.ts'
import { NGINX_PATH, type RunningNginx, startNginx } from './nginx.ts'
import { type PrivateRedis, REDIS_SERVER_PATH, redisServerAvailable, startPrivateRedis } from './redis.ts'
import { aliasDesCipherForS3rver } from './s3.ts'
import { type RunningServer, startServer, TEST_JWT_SECRET } from './server.ts'
import { tempDir } from './tmp.ts'

export const CLUSTER_BUCKET = 'airwave-cluster'
/** s3rver's only account. */
const S3_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' }

/**
 * Why cluster tests cannot run here (PostgreSQL, redis-server or nginx missing), or undefined when they can.
 * Tests skip with this as their notice: `describe.skipIf(Boolean(reason))`.
 */
export function clusterUnavailable(): string | undefined {
  const missing: string[] = []
  if (!process.env.TEST_DATABASE_URL) missing.push('PostgreSQL (set TEST_DATABASE_URL)')
  if (!redisServerAvailable()) missing.push(`redis-server (${REDIS_SERVER_PATH})`)
  if (!Bun.file(NGINX_PATH).size) missing.push(`nginx (${NGINX_PATH})`)
  return missing.length > 0 ? `needs ${missing.join(', ')}` : undefined
}

/** Prints why the cluster tests of `file` are skipped, once; returns whether they are. */
export function skipClusterTests(file: string): boolean {
  const reason = clusterUnavailable()
  if (reason) console.warn(`[skipped] cluster tests in ${file}: ${reason}`)
  return reason !== undefined
}

export interface ClusterOptions {
  /** Instances (3 by default). */
  size?: number
  /** Extra environment for every instance. */
  env?: Record<string, string>
  /** Extra environment for instance `i` alone (e.g. a stalling FFmpeg on the instance a test will kill). */
  envFor?: (i: number) => Record<string, string>
  /** Runs before the instances start, e.g. to put tracks into the shared library folder. */
  prepare?: (dirs: { audioDir: string }) => Promise<void>
}

export interface TestCluster {
  readonly size: number
  /** nginx, round-robin over every instance. */
  readonly url: string
  /** Each instance directly (the same across restarts). */
  readonly urls: string[]
  /** Each instance's INSTANCE_ID. */
  readonly ids: string[]
  readonly redis: PrivateRedis
  /** The shared database, for assertions on what was stored. */
  readonly sql: postgres.Sql
  readonly databaseUrl: string
  /** The track library folder every instance serves (AUDIO_FILES_DIR). */
  readonly audioDir: string
  /** The running process of instance `i` (throws while it is killed). */
  server(i: number): RunningServer
  alive(i: number): boolean
  /** A token every instance accepts (the same JWT_SECRET). */
  token(sub: string): Promise<string>
  /** SIGKILL: the instance dies at once, with nothing saved or released. */
  kill(i: number): Promise<void>
  /** Starts a killed instance again: same port, DATA_DIR and INSTANCE_ID. */
  restart(i: number): Promise<void>
  /** `GET /health` of instance `i`, parsed. */
  health(i: number): Promise<HealthBody>
  /** Everything instance `i` printed, over all its runs (for failure messages). */
  output(i: number): string
  stop(): Promise<void>
}

export interface HealthBody {
  status: string
  cluster: {
    instanceId: string
    mode: 'single' | 'cluster'
    status: 'ok' | 'degraded'
    redis: string
    instances: Array<{ id: string; lastSeenMs: number }>
  }
}

/** Starts everything; `stop()` removes it all again (database dropped, folders deleted). */
export async function startCluster(options: ClusterOptions = {}): Promise<TestCluster> {
  const size = options.size ?? 3
  const cleanups: Array<() => Promise<void> | void> = []
  const cleanup = async () => {
    for (const step of cleanups.reverse()) await Promise.resolve(step()).catch(() => {})
  }
  try {
    const shared = tempDir('airwave-cluster-')
    cleanups.push(() => shared.remove())
    const audioDir = join(shared.path, 'audio')
    const uploadsDir = join(shared.path, 'uploads')
    mkdirSync(audioDir)
    mkdirSync(uploadsDir)
    await options.prepare?.({ audioDir })

    const [redis, database, s3] = await Promise.all([
      startPrivateRedis(),
      createPostgresDatabase(process.env.TEST_DATABASE_URL as string),
      startS3(),
    ])
    cleanups.push(
      () => redis.stop(),
      () => database.drop(),
      () => s3.stop(),
    )
    const sql = postgres(database.url, { max: 2, onnotice: () => {} })
    cleanups.push(() => sql.end({ timeout: 1 }))

    const ids = Array.from({ length: size }, (_, i) => `airwave-${i + 1}`)
    const ports = ids.map(() => freePort())
    const dataDirs = ids.map((id) => {
      const dir = join(shared.path, id)
      mkdirSync(dir)
      return dir
    })
    const output = ids.map(() => '')
    const envOf = (i: number): Record<string, string> => ({
      PORT: String(ports[i]),
      DATA_DIR: dataDirs[i] as string,
      INSTANCE_ID: ids[i] as string,
      // Where the other instances reach this one (LL-HLS requests go to the stream's instance).
      INSTANCE_URL: `http://127.0.0.1:${ports[i]}`,
      REDIS_URL: redis.url,
      DATABASE_URL: database.url,
      AUDIO_FILES_DIR: audioDir,
      JWT_SECRET: TEST_JWT_SECRET,
      S3_ENDPOINT: s3.endpoint,
      S3_REGION: 'us-east-1',
      S3_BUCKET: CLUSTER_BUCKET,
      S3_ACCESS_KEY_ID: S3_CREDENTIALS.accessKeyId,
      S3_SECRET_ACCESS_KEY: S3_CREDENTIALS.secretAccessKey,
      S3_FORCE_PATH_STYLE: 'true',
      ...options.env,
      ...options.envFor?.(i),
    })
    const servers: Array<RunningServer | undefined> = ids.map(() => undefined)
    const launch = async (i: number) => {
      servers[i] = await startServer(envOf(i))
    }
    cleanups.push(async () => {
      await Promise.all(servers.map((server) => server && stopWithin(server, 5000)))
    })
    // All at once on the fresh database, as a deployment starts them: migrations must not race.
    await Promise.all(ids.map((_, i) => launch(i)))

    const nginx: RunningNginx = await startNginx({
      upstreams: ports.map((port) => `127.0.0.1:${port}`),
      audioDir,
      uploadsDir,
    })
    cleanups.push(() => nginx.stop())

    const server = (i: number) => {
      const running = servers[i]
      if (!running) throw new Error(`instance ${i} is not running`)
      return running
    }
    const urls = ports.map((port) => `http://127.0.0.1:${port}`)
    return {
      size,
      url: nginx.url,
      urls,
      ids,
      redis,
      sql,
      databaseUrl: database.url,
      audioDir,
      server,
      alive: (i) => servers[i] !== undefined,
      token: (sub) => server(servers.findIndex(Boolean)).token(sub),
      async kill(i) {
        const running = server(i)
        running.process.kill('SIGKILL')
        await running.process.exited
        output[i] += running.output()
        servers[i] = undefined
      },
      async restart(i) {
        if (servers[i]) throw new Error(`instance ${i} is still running`)
        await launch(i)
      },
      async health(i) {
        const response = await fetch(`${urls[i]}/health`)
        return (await response.json()) as HealthBody
      },
      output: (i) => output[i] + (servers[i]?.output() ?? ''),
      stop: cleanup,
    }
  } catch (err) {
    await cleanup()
    throw err
  }
}

/** SIGTERM, then SIGKILL if it has not exited within `ms`. */
async function stopWithin(server: RunningServer, ms: number): Promise<void> {
  const timer = setTimeout(() => server.process.kill('SIGKILL'), ms)
  await server.stop()
  clearTimeout(timer)
}

/** s3rver in this process with the cluster's bucket. */
async function startS3(): Promise<{ endpoint: string; stop(): Promise<void> }> {
  const restoreCiphers = aliasDesCipherForS3rver()
  const directory = await mkdtemp(join(tmpdir(), 'airwave-cluster-s3-'))
  const s3 = new S3rver({
    port: 0,
    address: '127.0.0.1',
    silent: true,
    directory,
    configureBuckets: [{ name: CLUSTER_BUCKET }],
  })
  const { port } = await s3.run()
  return {
    endpoint: `http://127.0.0.1:${port}`,
    async stop() {
      await s3.close()
      await rm(directory, { recursive: true, force: true })
      restoreCiphers()
    },
  }
}
