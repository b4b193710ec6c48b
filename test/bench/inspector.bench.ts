/**
 * Does the state inspector slow ingest? Ingest POST latency (p50/p99, sequential requests) against the real
 * server with no inspector client, with 5 inspector SSE clients reading the full feed, and with one stalled
 * inspector client (never reads) until the server cuts it off. The first row is the reference.
 *
 *   bun test/bench/inspector.bench.ts            (BENCH_REQUESTS=3000 per phase by default)
 */
import { b64, opusPackets, postChunk } from '../radio/support.ts'
import { startServer } from '../support/server.ts'
import { openStalledClient } from '../support/stalled-client.ts'

const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 3000)

const server = await startServer({
  INGEST_API_KEYS: 'bench-key',
  INGEST_RATE_LIMIT: '1000000',
  LOG_LEVEL: 'error',
})
const admin = await server.token('bench', { role: 'admin' })
const packets = opusPackets(50)
let sequence = 0

async function slowClientsCut(): Promise<number> {
  const text = await (await fetch(`${server.url}/metrics`)).text()
  return Number(/^airwave_sse_slow_clients_disconnected_total (\d+)/m.exec(text)?.[1] ?? 0)
}

/** Latencies in ms of `count` sequential ingest requests on slot 1. */
async function ingestLatencies(count: number): Promise<number[]> {
  const out: number[] = []
  for (let i = 0; i < count; i++) {
    sequence += 1
    const started = performance.now()
    const res = await postChunk(
      server.url,
      {
        slot: 1,
        radio_id: 1,
        talkgroup_id: 1,
        sequence,
        chunk_data: b64(packets[sequence % 50] as Uint8Array),
      },
      'bench-key',
    )
    out.push(performance.now() - started)
    if (res.status !== 200) throw new Error(`ingest answered ${res.status}`)
  }
  return out
}

const percentile = (values: number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0
}

const rows: Array<{ phase: string; p50: number; p99: number; note: string }> = []
const record = (phase: string, latencies: number[], note = '') =>
  rows.push({ phase, p50: percentile(latencies, 50), p99: percentile(latencies, 99), note })

await ingestLatencies(300)
record('no inspector client', await ingestLatencies(REQUESTS))

const readers = await Promise.all(
  Array.from({ length: 5 }, async () => {
    const controller = new AbortController()
    const res = await fetch(`${server.url}/api/v1/inspector/events?token=${admin}`, {
      signal: controller.signal,
    })
    let bytes = 0
    const done = (async () => {
      try {
        for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) bytes += chunk.byteLength
      } catch {
        // aborted
      }
    })()
    return { stop: () => controller.abort(), done, bytes: () => bytes }
  }),
)
const readingLatencies = await ingestLatencies(REQUESTS)
record(
  '5 reading inspector clients',
  readingLatencies,
  `${(readers.reduce((n, r) => n + r.bytes(), 0) / 1e6).toFixed(1)} MB delivered`,
)
for (const r of readers) r.stop()
await Promise.all(readers.map((r) => r.done))

const cutBefore = await slowClientsCut()
const stalled = openStalledClient(server.port, `/api/v1/inspector/events?token=${admin}`)
const stalledLatencies: number[] = []
while ((await slowClientsCut()) === cutBefore && stalledLatencies.length < REQUESTS * 10) {
  stalledLatencies.push(...(await ingestLatencies(100)))
}
const wasCut = (await slowClientsCut()) > cutBefore
record(
  '1 stalled inspector client',
  stalledLatencies,
  wasCut ? `cut off after ${stalledLatencies.length} requests` : 'NOT cut off',
)
stalled.close()
await server.stop()

const reference = rows[0]?.p99 ?? 1
console.log(`\nIngest latency with inspector clients (${REQUESTS} sequential POSTs per phase)\n`)
console.log('| phase | p50 ms | p99 ms | p99 vs none | note |')
console.log('|---|---|---|---|---|')
for (const r of rows) {
  console.log(
    `| ${r.phase} | ${r.p50.toFixed(2)} | ${r.p99.toFixed(2)} | ${(r.p99 / reference).toFixed(2)}× | ${r.note} |`,
  )
}
