/**
 * Issue 14: the radio on three instances against one, with the same load in the same run. 3,000 SSE listeners (spread
 * evenly over the instances; all on the one), both slots at 10 chunks/s with the POSTs spread round-robin over the
 * instances; then ingest throughput, 64 POSTs in flight, spread the same way. The cluster is the test harness's
 * (test/support/cluster.ts): a private Redis, PostgreSQL, s3rver and real instances; the client talks to the instances
 * directly (round-robin as a load balancer would, without its hop). The single instance is today's single node (no
 * REDIS_URL). Needs PostgreSQL (TEST_DATABASE_URL), redis-server and nginx, as the cluster tests do.
 *
 *   TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test bun test/bench/cluster.bench.ts
 *   (BENCH_SECONDS=30, BENCH_LISTENERS=3000, BENCH_INGEST_SECONDS=10, BENCH_ROUNDS=1; BENCH_FLOOR=1 adds the floors,
 *   BENCH_TRACE=<folder> writes per-hop timestamps of the latency phase and skips ingest)
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { b64, opusPackets } from '../radio/support.ts'
import { clusterUnavailable, startCluster } from '../support/cluster.ts'
import { startPrivateRedis } from '../support/redis.ts'
import { startServer } from '../support/server.ts'
import { type RadioClientResult, runRadioClient } from './radio-client-run.ts'
import { cpuSeconds, startFloorProcess } from './support.ts'

const SECONDS = Number(process.env.BENCH_SECONDS ?? 30)
const LISTENERS = Number(process.env.BENCH_LISTENERS ?? 3000)
const INGEST_SECONDS = Number(process.env.BENCH_INGEST_SECONDS ?? 10)
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 1)
/** A folder: per-hop timestamps (src/radio/hop-trace.ts) of the latency phase go to `<folder>/<round>-<deployment>/`. */
const TRACE = process.env.BENCH_TRACE ?? ''
/** BENCH_FLOOR=1: also bare broadcasters (radio-floor.ts), one alone and three over Redis pub/sub, for the client's floor. */
const FLOOR = process.env.BENCH_FLOOR === '1'
const KEY = 'bench-key'
const ENV = {
  INGEST_API_KEYS: KEY,
  INGEST_RATE_LIMIT: '1000000',
  LISTEN_TIMEOUT_S: '0',
  LOG_LEVEL: 'error',
}

const unavailable = clusterUnavailable()
if (unavailable) {
  console.error(`cluster bench: ${unavailable}`)
  process.exit(1)
}

interface Deployment {
  name: string
  listenPath?: string
  publishPath?: string
  bases: string[]
  /** Every server process of the deployment (instances, and Redis for the cluster), for CPU accounting. */
  pids: number[]
  stop(): Promise<void>
}

const cpuOf = (pids: number[]) => pids.reduce((sum, pid) => sum + cpuSeconds(pid), 0)

async function single(): Promise<Deployment> {
  const server = await startServer(ENV)
  return {
    name: 'one instance',
    bases: [server.url],
    pids: [server.process.pid],
    stop: async () => void (await server.stop()),
  }
}

async function threeInstances(): Promise<Deployment> {
  const cluster = await startCluster({ env: ENV })
  // Both slots owned before the load starts (a lease is taken within a retry of the first instance starting).
  await Bun.sleep(1500)
  return {
    name: 'three instances',
    bases: cluster.urls,
    pids: [...cluster.urls.map((_, i) => cluster.server(i).process.pid), cluster.redis.pid],
    stop: () => cluster.stop(),
  }
}

async function floorOne(): Promise<Deployment> {
  const floor = await startFloorProcess(join(import.meta.dir, 'radio-floor.ts'))
  return {
    name: 'floor: one',
    listenPath: '/listen',
    publishPath: '/publish',
    bases: [`http://127.0.0.1:${floor.port}`],
    pids: [floor.proc.pid],
    stop: floor.stop,
  }
}

async function floorThree(): Promise<Deployment> {
  const redis = await startPrivateRedis()
  const floors = await Promise.all(
    [0, 1, 2].map(() => startFloorProcess(join(import.meta.dir, 'radio-floor.ts'), redis.url)),
  )
  return {
    name: 'floor: three over Redis',
    listenPath: '/listen',
    publishPath: '/publish',
    bases: floors.map((f) => `http://127.0.0.1:${f.port}`),
    pids: [...floors.map((f) => f.proc.pid), redis.pid],
    stop: async () => {
      await Promise.all(floors.map((f) => f.stop()))
      await redis.stop()
    },
  }
}

const chunk = b64(opusPackets(1)[0] as Uint8Array)
const fmt = (n: number, digits = 1) => (Number.isFinite(n) ? n.toFixed(digits) : 'n/a')
const rows: string[] = []

for (let round = 1; round <= ROUNDS; round++) {
  const results: Record<
    string,
    { broadcast: RadioClientResult; ingest: RadioClientResult; cpuMsPerChunk: number }
  > = {}
  for (const make of FLOOR ? [floorOne, floorThree, single, threeInstances] : [single, threeInstances]) {
    let traceFolder = ''
    if (TRACE) {
      traceFolder = join(TRACE, `${round}-${make.name}`)
      mkdirSync(traceFolder, { recursive: true })
      // Inherited by the servers and the client.
      process.env.AIRWAVE_RADIO_TRACE = traceFolder
    }
    const deployment = await make()
    if (traceFolder) writeFileSync(join(traceFolder, 'pids.json'), JSON.stringify(deployment.pids))
    try {
      const common = {
        listenBases: deployment.bases,
        publishBases: deployment.bases,
        listenPath: deployment.listenPath ?? '/api/v1/stream-listen',
        publishPath: deployment.publishPath ?? '/api/v1/stream-audio',
        key: KEY,
        chunk,
      }
      console.error(`${deployment.name}: ${LISTENERS} listeners, ${SECONDS} s of 2 × 10 chunks/s`)
      const broadcastCpuBefore = deployment.pids.map(cpuSeconds)
      const broadcast = await runRadioClient({
        ...common,
        mode: 'broadcast',
        listeners: LISTENERS,
        seconds: SECONDS,
      })
      const broadcastCpuMs = deployment.pids.map((pid, i) =>
        Math.round((cpuSeconds(pid) - (broadcastCpuBefore[i] as number)) * 1000),
      )
      console.error(JSON.stringify({ deployment: deployment.name, broadcast, broadcastCpuMs }))
      // Traced sequences of the ingest phase would overlap the latency phase's; a floor has no ingest to speak of.
      if (traceFolder || deployment.name.startsWith('floor')) {
        results[deployment.name] = { broadcast, ingest: broadcast, cpuMsPerChunk: Number.NaN }
        continue
      }
      const perProcessBefore = deployment.pids.map(cpuSeconds)
      const cpuBefore = cpuOf(deployment.pids)
      const ingest = await runRadioClient({
        ...common,
        mode: 'ingest',
        listeners: 100,
        seconds: INGEST_SECONDS,
      })
      const cpuMsPerChunk = ((cpuOf(deployment.pids) - cpuBefore) * 1000) / Math.max(1, ingest.posted)
      const perProcessMs = deployment.pids.map((pid, i) =>
        Math.round((cpuSeconds(pid) - (perProcessBefore[i] as number)) * 1000),
      )
      console.error(JSON.stringify({ deployment: deployment.name, ingest, cpuMsPerChunk, perProcessMs }))
      results[deployment.name] = { broadcast, ingest, cpuMsPerChunk }
    } finally {
      await deployment.stop()
    }
  }
  for (const name of ['floor: one', 'floor: three over Redis']) {
    const r = results[name]
    if (r)
      rows.push(
        `| ${round} | ${name} | ${r.broadcast.connected} | ${fmt(r.broadcast.p50)} | ${fmt(r.broadcast.p99)} | ${fmt(r.broadcast.max)} | ${r.broadcast.lost} / ${r.broadcast.expected} | | |`,
      )
  }
  const one = results['one instance']
  const three = results['three instances']
  if (!one || !three) continue
  for (const [name, r] of [
    ['one instance', one],
    ['three instances', three],
  ] as const) {
    rows.push(
      `| ${round} | ${name} | ${r.broadcast.connected} | ${fmt(r.broadcast.p50)} | ${fmt(r.broadcast.p99)} | ${fmt(r.broadcast.max)} | ${r.broadcast.lost} / ${r.broadcast.expected} | ${fmt(r.ingest.postsPerSecond ?? 0, 0)} | ${fmt(r.cpuMsPerChunk, 3)} |`,
    )
  }
  rows.push(
    `| ${round} | three − one (÷ for rates) | | ${fmt(three.broadcast.p50 - one.broadcast.p50)} | ${fmt(three.broadcast.p99 - one.broadcast.p99)} | | | ${fmt((three.ingest.postsPerSecond ?? 0) / (one.ingest.postsPerSecond ?? 1), 2)}× | ${fmt(three.cpuMsPerChunk / one.cpuMsPerChunk, 2)}× |`,
  )
}

console.log(
  `\nRadio cluster: ${LISTENERS} listeners, 2 slots × 10 chunks/s for ${SECONDS} s; ingest with 64 POSTs in flight for ${INGEST_SECONDS} s\n`,
)
console.log(
  '| round | deployment | connected | p50 ms | p99 ms | max ms | lost / expected | chunk POSTs/s | server CPU ms per POST |',
)
console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- |')
for (const row of rows) console.log(row)
