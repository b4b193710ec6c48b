/**
 * Live radio under load: ingest→listener latency (p50/p99) and lost events with 1,000 and 5,000 SSE listeners
 * while both slots receive 10 chunks/s, side by side with a bare Bun.serve SSE broadcaster (radio-floor.ts) driven
 * by the same load generator (radio-client.ts, a separate process); server memory per listener; and ingest
 * throughput with 100 listeners attached.
 *
 *   bun test/bench/radio.bench.ts              (BENCH_SECONDS=60 by default, BENCH_SIZES=1000,5000)
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { b64, opusPackets } from '../radio/support.ts'
import { startServer } from '../support/server.ts'
import { runRadioClient } from './radio-client-run.ts'
import { startFloorProcess } from './support.ts'

const SECONDS = Number(process.env.BENCH_SECONDS ?? 60)
const SIZES = (process.env.BENCH_SIZES ?? '1000,5000').split(',').map(Number)
const INGEST_SECONDS = Number(process.env.BENCH_INGEST_SECONDS ?? 10)
const KEY = 'bench-key'
const HERE = import.meta.dir

interface Target {
  name: 'airwave' | 'floor'
  base: string
  pid: number
  listenPath: string
  publishPath: string
  stop(): Promise<void>
}

function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024
}

async function airwave(): Promise<Target> {
  const server = await startServer({
    INGEST_API_KEYS: KEY,
    INGEST_RATE_LIMIT: '1000000',
    LISTEN_TIMEOUT_S: '0',
    LOG_LEVEL: 'error',
  })
  return {
    name: 'airwave',
    base: server.url,
    pid: server.process.pid,
    listenPath: '/api/v1/stream-listen',
    publishPath: '/api/v1/stream-audio',
    stop: async () => void (await server.stop()),
  }
}

async function floor(): Promise<Target> {
  const { port, proc, stop } = await startFloorProcess(join(HERE, 'radio-floor.ts'))
  return {
    name: 'floor',
    base: `http://127.0.0.1:${port}`,
    pid: proc.pid,
    listenPath: '/listen',
    publishPath: '/publish',
    stop,
  }
}

/** Runs the client against `target` while sampling the server's RSS; memory is the peak over the idle baseline. */
async function run(
  target: Target,
  mode: 'broadcast' | 'ingest',
  listeners: number,
  seconds: number,
  chunk: string,
) {
  Bun.gc(true)
  await Bun.sleep(500)
  const baseline = rssBytes(target.pid)
  let peak = baseline
  const sampler = setInterval(() => {
    peak = Math.max(peak, rssBytes(target.pid))
  }, 250)
  const result = await runRadioClient({
    mode,
    listenBases: [target.base],
    publishBases: [target.base],
    listenPath: target.listenPath,
    publishPath: target.publishPath,
    key: KEY,
    listeners,
    seconds,
    chunk,
  })
  clearInterval(sampler)
  return { ...result, bytesPerListener: listeners > 0 ? (peak - baseline) / listeners : 0 }
}

const chunk = b64(opusPackets(1)[0] as Uint8Array)
const rows: string[][] = []
const fmt = (n: number, digits = 1) => (Number.isFinite(n) ? n.toFixed(digits) : 'n/a')

for (const size of SIZES) {
  const results: Record<string, Awaited<ReturnType<typeof run>>> = {}
  for (const make of [floor, airwave]) {
    const target = await make()
    try {
      console.error(`${target.name}: ${size} listeners, ${SECONDS} s of 2 × 10 chunks/s`)
      results[target.name] = await run(target, 'broadcast', size, SECONDS, chunk)
      console.error(JSON.stringify({ target: target.name, size, ...results[target.name] }))
    } finally {
      await target.stop()
    }
  }
  const a = results.airwave
  const f = results.floor
  if (!a || !f) continue
  for (const [name, r] of [
    ['floor (bare Bun.serve)', f],
    ['airwave', a],
  ] as const) {
    rows.push([
      String(size),
      name,
      `${r.connected}`,
      fmt(r.p50),
      fmt(r.p99),
      fmt(r.max),
      `${r.lost} / ${r.expected}`,
      fmt(r.bytesPerListener / 1024),
    ])
  }
  rows.push([
    String(size),
    'airwave ÷ floor',
    '',
    fmt(a.p50 / f.p50, 2),
    fmt(a.p99 / f.p99, 2),
    '',
    '',
    fmt(a.bytesPerListener / f.bytesPerListener, 2),
  ])
}

const ingest: Record<string, number> = {}
for (const make of [floor, airwave]) {
  const target = await make()
  try {
    const r = await run(target, 'ingest', 100, INGEST_SECONDS, chunk)
    ingest[target.name] = r.postsPerSecond ?? 0
    console.error(JSON.stringify({ target: target.name, ingest: r }))
  } finally {
    await target.stop()
  }
}

console.log(
  `\nLive radio: 2 slots × 10 chunks/s for ${SECONDS} s (latency = chunk POST sent → event read by a raw TCP listener)\n`,
)
console.log(
  '| listeners | server | connected | p50 ms | p99 ms | max ms | lost / expected | server KiB per listener |',
)
console.log('| --- | --- | --- | --- | --- | --- | --- | --- |')
for (const row of rows) console.log(`| ${row.join(' | ')} |`)
console.log(`\nIngest with 100 listeners attached, 64 POSTs in flight for ${INGEST_SECONDS} s:\n`)
console.log('| server | chunk POSTs/s |')
console.log('| --- | --- |')
console.log(`| floor (bare Bun.serve, no auth/validation) | ${fmt(ingest.floor ?? 0, 0)} |`)
console.log(`| airwave | ${fmt(ingest.airwave ?? 0, 0)} |`)
