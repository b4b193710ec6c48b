/**
 * Load and listeners for test/bench/radio.bench.ts, in their own process so the server under test keeps its cores'
 * share. Listeners are raw TCP sockets (Bun.connect; Bun's fetch keeps at most 256 requests open) that only scan
 * for `"sequence":N` in audio_chunk events. The load generator posts one chunk per slot every 100 ms (or, in
 * `ingest` mode, as many as it can with 64 requests in flight) and remembers when each was sent, so latency is
 * receive time minus send time on the same clock. Prints one JSON line.
 */
import type { Socket } from 'bun'
import type { RadioClientOptions } from './radio-client-run.ts'
import { LatencyHistogram } from './support.ts'

/** With AIRWAVE_RADIO_TRACE (src/radio/hop-trace.ts): every receive time per chunk and instance, written at the end. */
const traceFolder = process.env.AIRWAVE_RADIO_TRACE ?? ''
const receiveTimes = new Map<string, number[]>()
const postedTo = new Map<string, { base: number; acked: number }>()

const options = JSON.parse(process.argv[2] ?? '{}') as RadioClientOptions
const now = () => performance.timeOrigin + performance.now()

const latency = new LatencyHistogram()

/** Send time of each (slot, sequence) the load generator posted successfully. */
const sentAt = [new Map<number, number>(), new Map<number, number>(), new Map<number, number>()]

interface Listener {
  slot: number
  base: number
  tail: string
  received: number
  connected: boolean
}
const listeners: Listener[] = []
const SEQ = '"sequence":'

function onData(listener: Listener, data: Buffer): void {
  const at = now()
  const text = listener.tail + data.toString('latin1')
  const end = text.lastIndexOf('\n\n')
  if (end < 0) {
    listener.tail = text
    return
  }
  listener.tail = text.slice(end + 2)
  if (!listener.connected && text.includes('event: connected')) listener.connected = true
  for (let i = text.indexOf(SEQ); i >= 0 && i < end; i = text.indexOf(SEQ, i + SEQ.length)) {
    const sequence = Number.parseInt(text.slice(i + SEQ.length, i + SEQ.length + 16), 10)
    const sent = sentAt[listener.slot]?.get(sequence)
    listener.received++
    if (sent !== undefined) latency.record(at - sent)
    if (traceFolder && sent !== undefined) {
      const key = `${listener.slot} ${sequence} ${listener.base}`
      const times = receiveTimes.get(key)
      if (times) times.push(at)
      else receiveTimes.set(key, [at])
    }
  }
}

async function connectListeners(): Promise<Socket<Listener>[]> {
  const sockets: Socket<Listener>[] = []
  const BATCH = 250
  for (let start = 0; start < options.listeners; start += BATCH) {
    const batch = Array.from({ length: Math.min(BATCH, options.listeners - start) }, async (_, i) => {
      const n = start + i
      const listener: Listener = {
        slot: (n % 2) + 1,
        base: n % options.listenBases.length,
        tail: '',
        received: 0,
        connected: false,
      }
      listeners.push(listener)
      const { hostname, port } = new URL(options.listenBases[n % options.listenBases.length] as string)
      const socket = await Bun.connect<Listener>({
        hostname,
        port: Number(port),
        data: listener,
        socket: { data: (s, d) => onData(s.data, d as Buffer), error: () => {}, close: () => {} },
      })
      socket.write(
        `GET ${options.listenPath}?slot=${listener.slot} HTTP/1.1\r\nHost: ${hostname}\r\nAccept: text/event-stream\r\n\r\n`,
      )
      sockets.push(socket)
    })
    await Promise.all(batch)
  }
  const deadline = Date.now() + 60_000
  while (listeners.some((l) => !l.connected) && Date.now() < deadline) await Bun.sleep(50)
  return sockets
}

let posted = 0
let failed = 0
let nextBase = 0
/** Chunks the server acknowledged as duplicates: with 32 requests in flight per slot, some arrive after the
 * transmission's reorder window skipped past them. They are not re-broadcast, so listeners must not expect them. */
let late = 0
async function post(slot: number, sequence: number): Promise<void> {
  const body = JSON.stringify({
    slot,
    radio_id: 2222001,
    talkgroup_id: slot,
    sequence,
    chunk_data: options.chunk,
  })
  const sent = now()
  sentAt[slot]?.set(sequence, sent)
  try {
    const baseIndex = nextBase++ % options.publishBases.length
    const base = options.publishBases[baseIndex]
    const res = await fetch(`${base}${options.publishPath}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${options.key}` },
      body,
    })
    const reply = (await res.json()) as { data?: { duplicate?: boolean } }
    if (traceFolder) postedTo.set(`${slot} ${sequence}`, { base: baseIndex, acked: now() })
    if (res.ok) {
      posted++
      if (reply.data?.duplicate) {
        late++
        sentAt[slot]?.delete(sequence)
      }
    } else {
      failed++
      sentAt[slot]?.delete(sequence)
    }
  } catch {
    failed++
    sentAt[slot]?.delete(sequence)
  }
}

/** Both slots, 10 chunks/s each, for `seconds`, on a fixed schedule (no drift). */
async function broadcastLoad(): Promise<void> {
  const ticks = options.seconds * 10
  const start = now()
  const inflight: Promise<void>[] = []
  for (let tick = 0; tick < ticks; tick++) {
    const due = start + tick * 100 - now()
    if (due > 0) await Bun.sleep(due)
    inflight.push(post(1, tick), post(2, tick))
  }
  await Promise.all(inflight)
}

/** As many chunk POSTs as the server takes, 64 in flight, for `seconds`. */
async function ingestLoad(): Promise<number> {
  const deadline = now() + options.seconds * 1000
  const next = [0, 0, 0]
  const worker = async (w: number) => {
    const slot = (w % 2) + 1
    while (now() < deadline) await post(slot, (next[slot] as number)++)
  }
  const start = now()
  await Promise.all(Array.from({ length: 64 }, (_, w) => worker(w)))
  return posted / ((now() - start) / 1000)
}

const sockets = await connectListeners()
const connected = listeners.filter((l) => l.connected).length
console.error(`client: ${connected}/${options.listeners} listeners connected`)
let postsPerSecond: number | undefined
if (options.mode === 'ingest') postsPerSecond = await ingestLoad()
else await broadcastLoad()
await Bun.sleep(2000)
let expected = 0
let received = 0
for (const l of listeners) {
  expected += sentAt[l.slot]?.size ?? 0
  received += l.received
}
for (const s of sockets) s.end()
if (traceFolder && options.mode === 'broadcast') {
  const out: string[] = []
  for (const [key, times] of receiveTimes) {
    const [slot, sequence] = key.split(' ')
    const sent = sentAt[Number(slot)]?.get(Number(sequence))
    const post = postedTo.get(`${slot} ${sequence}`)
    out.push(`${key} ${sent} ${post?.base} ${post?.acked} ${times.map((t) => t.toFixed(3)).join(',')}`)
  }
  await Bun.write(`${traceFolder}/client.trace`, `${out.join('\n')}\n`)
}
const cpu = process.cpuUsage()
console.log(
  JSON.stringify({
    connected,
    posted,
    failed,
    late,
    postsPerSecond,
    expected,
    received,
    lost: Math.max(0, expected - received),
    p50: latency.percentile(0.5),
    p99: latency.percentile(0.99),
    max: latency.percentile(1),
    cpuMs: Math.round((cpu.user + cpu.system) / 1000),
  }),
)
process.exit(0)
