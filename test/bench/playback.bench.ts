/**
 * Playback sessions under load: 1,000 users × 2 devices, every device sending `updateStreaming` once a second, the
 * first device of each user leading the session; latency from the leader's send to the `trackUpdated` arriving on
 * the same user's other device (p50/p99, target p99 ≤ 20 ms) and lost events. The same load runs on `/ws` and then on
 * Socket.IO against the same server (target: Socket.IO p99 ≤ 20 ms and ≤ 1.5× the `/ws` p99). The devices run in
 * their own process (playback-client.ts); the server runs in another. The floor is a bare Bun.serve WebSocket relay
 * (playback-floor.ts) driven by the same client. Also reports how many session rows Airwave wrote during each run
 * (straight playback should write ~one per user, not one per update).
 *
 *   bun test/bench/playback.bench.ts          (BENCH_SECONDS=30, BENCH_USERS=1000 by default; BENCH_DATABASE_URL)
 */
import { join } from 'node:path'
import { libraryTrackId } from '../../src/tracks/library.ts'
import { makeTone } from '../audiobooks/fixtures.ts'
import { startServer, TEST_JWT_SECRET } from '../support/server.ts'
import { tempDir } from '../support/tmp.ts'
import { cpuSeconds, startFloorProcess } from './support.ts'

const SECONDS = Number(process.env.BENCH_SECONDS ?? 30)
const USERS = Number(process.env.BENCH_USERS ?? 1000)
/** `BENCH_DATABASE_URL=postgres://…` runs Airwave on PostgreSQL instead of its embedded PGlite. */
const DATABASE_URL = process.env.BENCH_DATABASE_URL
const HERE = import.meta.dir
/** Longer than the run, so the position never reaches the end of the track. */
const TRACK_SECONDS = Math.max(600, SECONDS * 2)

interface ClientResult {
  connected: number
  sent: number
  heard: number
  lost: number
  errors: number
  p50: number
  p99: number
  max: number
  /** The client process's own event-loop lag during the load (ms): high values mean the client, not the server. */
  clientLagP99: number
  clientLagMax: number
}

interface Target {
  name: string
  base: string
  pid: number
  /** The transports the bench runs against this target, one column each. */
  transports: Array<'ws' | 'socket.io'>
  stop(): Promise<void>
  /** Session rows written so far (Airwave only). */
  rowsWritten?(): Promise<number>
}

const audio = tempDir('airwave-bench-audio-')
await makeTone(audio.path, 'bench.mp3', TRACK_SECONDS)
const trackId = libraryTrackId('bench.mp3')

async function airwave(): Promise<Target> {
  const server = await startServer({
    AUDIO_FILES_DIR: audio.path,
    LOG_LEVEL: 'error',
    // PGlite (the default) lives in the server's heap and lengthens its GC pauses; PostgreSQL does not.
    ...(DATABASE_URL ? { DATABASE_URL } : {}),
  })
  return {
    name: 'airwave',
    base: server.url,
    pid: server.process.pid,
    transports: ['ws', 'socket.io'],
    stop: async () => void (await server.stop()),
    rowsWritten: async () => {
      const text = await (await fetch(`${server.url}/metrics`)).text()
      return Number(/^airwave_playback_sessions_written_total (\d+)/m.exec(text)?.[1] ?? Number.NaN)
    },
  }
}

async function floor(): Promise<Target> {
  const { port, proc, stop } = await startFloorProcess(join(HERE, 'playback-floor.ts'))
  return {
    name: 'floor (bare Bun.serve relay)',
    base: `http://127.0.0.1:${port}`,
    pid: proc.pid,
    transports: ['ws'],
    stop,
  }
}

async function run(
  target: Target,
  transport: 'ws' | 'socket.io',
): Promise<ClientResult & { rows?: number; cpu: number }> {
  const before = await target.rowsWritten?.()
  const client = Bun.spawn(
    [
      'bun',
      join(HERE, 'playback-client.ts'),
      JSON.stringify({
        base: target.base,
        transport,
        users: USERS,
        seconds: SECONDS,
        trackId,
        jwtSecret: TEST_JWT_SECRET,
      }),
    ],
    { stdout: 'pipe', stderr: 'inherit' },
  )
  // The server's CPU over the whole client run (connecting included), per second of load.
  const cpuBefore = cpuSeconds(target.pid)
  const output = await new Response(client.stdout).text()
  await client.exited
  const cpu = (cpuSeconds(target.pid) - cpuBefore) / SECONDS
  const result = JSON.parse(output.trim().split('\n').at(-1) ?? '{}') as ClientResult
  const after = await target.rowsWritten?.()
  return { ...result, cpu, rows: before === undefined || after === undefined ? undefined : after - before }
}

const fmt = (n: number, digits = 1) => (Number.isFinite(n) ? n.toFixed(digits) : 'n/a')
const rows: string[][] = []
const results: Record<string, ClientResult> = {}
try {
  for (const make of [floor, airwave]) {
    const target = await make()
    try {
      for (const transport of target.transports) {
        const name =
          target.transports.length > 1
            ? `${target.name} ${transport === 'ws' ? '/ws' : 'Socket.IO'}`
            : target.name
        console.error(`${name}: ${USERS} users × 2 devices, ${SECONDS} s of 1 update/s per device`)
        const r = await run(target, transport)
        results[name] = r
        console.error(JSON.stringify({ target: name, ...r }))
        rows.push([
          name,
          `${r.connected}`,
          fmt(r.p50),
          fmt(r.p99),
          fmt(r.max),
          `${r.lost} / ${r.sent}`,
          `${r.errors}`,
          `${fmt(r.cpu * 100, 0)} %`,
          r.rows === undefined ? '' : `${r.rows}`,
          `${fmt(r.clientLagP99)} / ${fmt(r.clientLagMax)}`,
        ])
      }
    } finally {
      await target.stop()
    }
  }
} finally {
  audio.remove()
}

console.log(
  `\nPlayback sessions: ${USERS} users × 2 devices, each device sends updateStreaming once a second for ${SECONDS} s` +
    `, Airwave on ${DATABASE_URL ? 'PostgreSQL' : 'PGlite'}` +
    "\n(latency = the leader's send → trackUpdated read on the user's other device)\n",
)
console.log(
  '| server | sockets | p50 ms | p99 ms | max ms | lost / sent | error events | server CPU per s of load | session rows written | client loop lag p99 / max ms |',
)
console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |')
for (const row of rows) console.log(`| ${row.join(' | ')} |`)
const ws = results['airwave /ws']
const sio = results['airwave Socket.IO']
const f = results['floor (bare Bun.serve relay)']
if (ws && f)
  console.log(`| airwave /ws ÷ floor | | ${fmt(ws.p50 / f.p50, 2)} | ${fmt(ws.p99 / f.p99, 2)} | | | | | | |`)
if (sio && ws)
  console.log(
    `| airwave Socket.IO ÷ /ws | | ${fmt(sio.p50 / ws.p50, 2)} | ${fmt(sio.p99 / ws.p99, 2)} | | | | | | |`,
  )
if (ws) console.log(`\n/ws p99 target ≤ 20 ms: ${ws.p99 <= 20 ? 'met' : 'NOT met'} (${fmt(ws.p99)} ms)`)
if (sio && ws) {
  const met = sio.p99 <= 20 && sio.p99 <= 1.5 * ws.p99
  console.log(
    `Socket.IO p99 target ≤ 20 ms and ≤ 1.5× /ws: ${met ? 'met' : 'NOT met'} (${fmt(sio.p99)} ms, ${fmt(sio.p99 / ws.p99, 2)}×)`,
  )
}
