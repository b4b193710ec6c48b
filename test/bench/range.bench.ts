/**
 * Track streaming throughput against nginx in the same run: wrk (one thread, keep-alive) against Airwave's
 * `GET /api/stream/:id` (separate process, NODE_ENV=production, LOG_LEVEL=warn, JWT in the Authorization header),
 * against nginx serving the same file (`sendfile on; tcp_nodelay on;`, one worker) and against a bare Bun.serve
 * floor (range-floor.ts), and against Airwave behind nginx in TRACK_ACCEL_REDIRECT mode (deploy/nginx's template: the
 * instance checks the token, nginx sends the bytes; its CPU is both processes'). Two workloads on a 50 MB file:
 * random 64 KiB ranges, and whole-file reads.
 * Reports the median of each server's rounds (servers take turns within a round) and the ratio to nginx.
 *
 *   bun test/bench/range.bench.ts     (BENCH_ROUNDS=3, BENCH_SECONDS=10, BENCH_RANGE_CONNECTIONS=16,
 *                                      BENCH_WHOLE_CONNECTIONS=4 by default; BENCH_WORKLOADS=ranges for one)
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { loadavg } from 'node:os'
import { join } from 'node:path'
import { freePort, makeTone } from '../support/audio.ts'
import { startNginx as startAccelNginx } from '../support/nginx.ts'
import { startServer } from '../support/server.ts'
import { tempDir } from '../support/tmp.ts'
import { cpuSeconds, startFloorProcess, stopProcess } from './support.ts'

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3)
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10)
const RANGE_CONNECTIONS = Number(process.env.BENCH_RANGE_CONNECTIONS ?? 16)
const WHOLE_CONNECTIONS = Number(process.env.BENCH_WHOLE_CONNECTIONS ?? 4)
const RANGE_BYTES = 64 * 1024
/** Stereo 16-bit 44.1 kHz WAV: 176,400 bytes a second plus a 58-byte header, 50,000,658 bytes in all. */
const WAV_SECONDS = 283.45
const NGINX = process.env.NGINX_PATH ?? '/usr/sbin/nginx'
const WRK = process.env.WRK_PATH ?? '/usr/bin/wrk'
const HERE = import.meta.dir

type ServerName = 'nginx' | 'airwave' | 'bun floor' | 'airwave + nginx accel'
interface Target {
  name: ServerName
  url: string
  /** The processes whose CPU the target's requests cost. */
  pids: number[]
  stop(): Promise<void>
}
interface Measurement {
  requestsPerSecond: number
  bytesPerSecond: number
  /** The server's CPU time (all its threads, user + system) per request: steadier than rates on a busy machine. */
  cpuMicrosPerRequest: number
}

const work = tempDir('airwave-range-bench-')
const library = join(work.path, 'library')
mkdirSync(library)
const file = join(library, 'bench.wav')

async function run(command: string[], env: Record<string, string> = {}): Promise<string> {
  const proc = Bun.spawn(command, { env: { ...process.env, ...env }, stdout: 'pipe', stderr: 'pipe' })
  const [out, err, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ])
  if (code !== 0) throw new Error(`${command[0]} exited with ${code}: ${err || out}`)
  return out
}

async function waitUntilServing(url: string): Promise<void> {
  const deadline = Date.now() + 20_000
  while (Date.now() < deadline) {
    if (
      await fetch(url, { method: 'HEAD' }).then(
        () => true,
        () => false,
      )
    )
      return
    await Bun.sleep(50)
  }
  throw new Error(`${url} never answered`)
}

async function startNginx(): Promise<Target> {
  const dir = join(work.path, 'nginx')
  mkdirSync(dir)
  const port = freePort()
  const conf = join(dir, 'nginx.conf')
  writeFileSync(
    conf,
    `daemon off;
master_process off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  tcp_nodelay on;
  keepalive_requests 1000000;
  types { audio/wav wav; }
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  server {
    listen 127.0.0.1:${port};
    root ${library};
  }
}
`,
  )
  const proc = Bun.spawn([NGINX, '-c', conf, '-p', dir], { stdout: 'ignore', stderr: 'inherit' })
  const url = `http://127.0.0.1:${port}/bench.wav`
  await waitUntilServing(url)
  return { name: 'nginx', url, pids: [proc.pid], stop: () => stopProcess(proc) }
}

async function startFloor(): Promise<Target> {
  const { port, proc, stop } = await startFloorProcess(join(HERE, 'range-floor.ts'), file)
  return { name: 'bun floor', url: `http://127.0.0.1:${port}/bench.wav`, pids: [proc.pid], stop }
}

/** Bytes per second from wrk's `Transfer/sec: 1.49GB` (wrk's units are powers of 1024). */
function wrkBytes(value: string, unit: string): number {
  const scale: Record<string, number> = { B: 1, KB: 1024, MB: 1024 ** 2, GB: 1024 ** 3, TB: 1024 ** 4 }
  return Number(value) * (scale[unit] ?? Number.NaN)
}

async function wrk(
  target: Target,
  workload: 'ranges' | 'whole file',
  token: string,
  seconds: number,
): Promise<Measurement> {
  const common = [WRK, '-t1', `-d${seconds}s`]
  const command =
    workload === 'ranges'
      ? [...common, `-c${RANGE_CONNECTIONS}`, '-s', join(HERE, 'random-range.lua'), target.url]
      : [...common, `-c${WHOLE_CONNECTIONS}`, '-H', `Authorization: Bearer ${token}`, target.url]
  const cpuOf = () => target.pids.reduce((sum, pid) => sum + cpuSeconds(pid), 0)
  const cpuBefore = cpuOf()
  const out = await run(command, {
    BENCH_TOKEN: token,
    FILE_SIZE: String(Bun.file(file).size),
    RANGE_BYTES: String(RANGE_BYTES),
  })
  const failed = /Non-2xx or 3xx responses: (\d+)/.exec(out) ?? /Socket errors: (.*)/.exec(out)
  if (failed) throw new Error(`${target.name} ${workload}: ${failed[0]}\n${out}`)
  const cpu = cpuOf() - cpuBefore
  const requests = /Requests\/sec:\s+([\d.]+)/.exec(out)
  const transfer = /Transfer\/sec:\s+([\d.]+)([KMGT]?B)/.exec(out)
  const count = /(\d+) requests in/.exec(out)
  if (!requests || !transfer || !count) throw new Error(`unexpected wrk output:\n${out}`)
  return {
    requestsPerSecond: Number(requests[1]),
    bytesPerSecond: wrkBytes(transfer[1] as string, transfer[2] as string),
    cpuMicrosPerRequest: (cpu * 1e6) / Number(count[1]),
  }
}

/** Every server must give the file's exact bytes before it is measured. */
async function checkBytes(target: Target, token: string): Promise<void> {
  const expected = new Uint8Array(
    await Bun.file(file)
      .slice(1000, 1000 + RANGE_BYTES)
      .arrayBuffer(),
  )
  const response = await fetch(target.url, {
    headers: { authorization: `Bearer ${token}`, range: `bytes=1000-${1000 + RANGE_BYTES - 1}` },
  })
  const body = new Uint8Array(await response.arrayBuffer())
  if (response.status !== 206 || Buffer.compare(body, expected) !== 0) {
    throw new Error(`${target.name} answered ${response.status} with the wrong bytes`)
  }
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2
    ? (sorted[middle] as number)
    : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2
}

await makeTone(library, 'bench.wav', WAV_SECONDS, { args: ['-ac', '2', '-ar', '44100'] })

const workloads = (['ranges', 'whole file'] as const).filter(
  (w) => !process.env.BENCH_WORKLOADS || process.env.BENCH_WORKLOADS.split(',').includes(w),
)
const results = new Map<string, Measurement[]>()
const loadBefore = loadavg()[0] as number
const targets: Target[] = []
try {
  const server = await startServer({ NODE_ENV: 'production', LOG_LEVEL: 'warn', AUDIO_FILES_DIR: library })
  const airwave: Target = {
    name: 'airwave',
    url: '',
    pids: [server.process.pid],
    stop: async () => void (await server.stop()),
  }
  targets.push(airwave)
  const accelServer = await startServer({
    NODE_ENV: 'production',
    LOG_LEVEL: 'warn',
    AUDIO_FILES_DIR: library,
    TRACK_ACCEL_REDIRECT: '/_airwave_files/',
  })
  const accelNginx = await startAccelNginx({
    upstreams: [`127.0.0.1:${accelServer.port}`],
    audioDir: library,
    uploadsDir: join(accelServer.dataDir, 'uploads/tracks'),
  })
  const token = await server.token('bench', { ttlSeconds: 24 * 3600 })
  const listed = (await (
    await fetch(`${server.url}/api/tracks`, { headers: { authorization: `Bearer ${token}` } })
  ).json()) as { data: Array<{ id: string }> }
  airwave.url = `${server.url}/api/stream/${listed.data[0]?.id}`
  targets.unshift(await startNginx())
  targets.push(await startFloor())
  targets.push({
    name: 'airwave + nginx accel',
    // The same track id: ids come from the path within the library.
    url: `${accelNginx.url}/api/stream/${listed.data[0]?.id}`,
    pids: [accelServer.process.pid, accelNginx.pid],
    stop: async () => {
      await accelNginx.stop()
      await accelServer.stop()
    },
  })

  for (const target of targets) await checkBytes(target, token)
  for (const workload of workloads) {
    for (const target of targets) await wrk(target, workload, token, 2)
    for (let round = 0; round < ROUNDS; round++) {
      // Servers take turns, starting with a different one each round, so a slow spell hits them all alike.
      for (let i = 0; i < targets.length; i++) {
        const target = targets[(round + i) % targets.length] as Target
        const measured = await wrk(target, workload, token, SECONDS)
        const key = `${workload}|${target.name}`
        results.set(key, [...(results.get(key) ?? []), measured])
        console.log(
          `round ${round + 1} ${workload} ${target.name}: ${measured.requestsPerSecond.toFixed(0)} req/s, ` +
            `${(measured.bytesPerSecond / 1e6).toFixed(0)} MB/s, ${measured.cpuMicrosPerRequest.toFixed(1)} µs CPU/request`,
        )
      }
    }
  }
} finally {
  for (const target of targets) await target.stop()
  work.remove()
}

const summary = (workload: string, name: ServerName) => {
  const runs = results.get(`${workload}|${name}`) ?? []
  return {
    requests: median(runs.map((r) => r.requestsPerSecond)),
    bytes: median(runs.map((r) => r.bytesPerSecond)),
    cpu: median(runs.map((r) => r.cpuMicrosPerRequest)),
  }
}
console.log(
  `\nTrack streaming, 50 MB file, wrk -t1, keep-alive; medians of ${ROUNDS} rounds of ${SECONDS} s ` +
    `(load average ${loadBefore.toFixed(1)} before, ${(loadavg()[0] as number).toFixed(1)} after)\n`,
)
console.log(
  '| workload | server | requests/s | MB/s | requests/s vs nginx | MB/s vs nginx | server CPU µs/request |',
)
console.log('|---|---|---|---|---|---|---|')
for (const workload of workloads) {
  const reference = summary(workload, 'nginx')
  for (const { name } of targets) {
    const { requests, bytes, cpu } = summary(workload, name)
    console.log(
      `| ${workload === 'ranges' ? `64 KiB random ranges, ${RANGE_CONNECTIONS} connections` : `whole file, ${WHOLE_CONNECTIONS} connections`} ` +
        `| ${name} | ${requests.toFixed(0)} | ${(bytes / 1e6).toFixed(0)} | ${(requests / reference.requests).toFixed(2)}× ` +
        `| ${(bytes / reference.bytes).toFixed(2)}× | ${cpu.toFixed(1)} |`,
    )
  }
}
if (workloads.length < 2) process.exit(0)
const rangeRatio = summary('ranges', 'airwave').requests / summary('ranges', 'nginx').requests
const wholeRatio = summary('whole file', 'airwave').bytes / summary('whole file', 'nginx').bytes
const accelRatio = summary('ranges', 'airwave + nginx accel').requests / summary('ranges', 'nginx').requests
console.log(
  `\ntargets: ranges ≥ 0.85× nginx requests/s: ${rangeRatio.toFixed(2)}× (${rangeRatio >= 0.85 ? 'met' : 'NOT met'}); ` +
    `whole file ≥ 0.9× nginx bytes/s: ${wholeRatio.toFixed(2)}× (${wholeRatio >= 0.9 ? 'met' : 'NOT met'}); ` +
    `ranges with X-Accel-Redirect ≥ 0.9× bare nginx requests/s: ${accelRatio.toFixed(2)}× (${accelRatio >= 0.9 ? 'met' : 'NOT met'})`,
)
