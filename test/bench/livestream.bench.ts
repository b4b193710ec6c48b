/**
 * Livestream: (1) latency from a chunk's arrival to the segment holding its last frame being listed, p50/p95,
 * for the server (WebSocket → actor → FFmpeg → playlist) and for a lone FFmpeg fed the same chunks through a
 * pipe (the reference, measured in the same run); (2) how many 1280×720 30 fps streams fed in real time the
 * server runs at once with every stream keeping pace, with server + FFmpeg CPU and memory per stream, next to
 * the speed of a lone FFmpeg transcoding the same WebM as fast as it can.
 *
 *   bun test/bench/livestream.bench.ts     (BENCH_SECONDS=20 of media per run, BENCH_MAX_STREAMS=6)
 */
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { buildHlsArgs, parseSegmentListLine } from '../../src/livestream/hls-args.ts'
import { FRAME_RATE, LL_FRAGMENT_SECONDS } from '../../src/livestream/service.ts'
import { startServer } from '../support/server.ts'
import { tempDir } from '../support/tmp.ts'
import { chunkWebm, makeWebm, type WebmChunk } from '../support/webm.ts'
import { WsClient } from '../support/ws-client.ts'

const SECONDS = Number(process.env.BENCH_SECONDS ?? 20)
const MAX_STREAMS = Number(process.env.BENCH_MAX_STREAMS ?? 6)
const SEGMENT_SECONDS = 2
const PRESET = 'veryfast'
/** A stream keeps pace when the media listed never trails the media sent by more than this (after warm-up). */
const MAX_LAG_S = 2 * SEGMENT_SECONDS + 1.5
const WARMUP_S = 5

const percentile = (values: number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN
}
const ms = (s: number) => `${Math.round(s * 1000)} ms`

/**
 * For each chunk: seconds from its send to the listing of the segment that holds its last frame (undefined when
 * that segment was only listed at the end of the stream).
 */
function latencies(
  chunks: WebmChunk[],
  sentAt: number[],
  listed: Array<{ at: number; end: number }>,
): Array<number | undefined> {
  return chunks.map((chunk, i) => {
    const holder = listed.find((s) => s.end * 1000 > chunk.lastTimeMs)
    return holder ? (holder.at - (sentAt[i] as number)) / 1000 : undefined
  })
}

const defined = (values: Array<number | undefined>) => values.filter((v): v is number => v !== undefined)

/** Sends chunk i at start + (i+1) s, as MediaRecorder hands a chunk over after each 1 s slice. */
async function realTime(
  chunks: WebmChunk[],
  send: (bytes: Uint8Array) => void | Promise<void>,
): Promise<number[]> {
  const start = performance.now()
  const sentAt: number[] = []
  for (const [i, chunk] of chunks.entries()) {
    const due = start + (i + 1) * 1000
    await Bun.sleep(Math.max(0, due - performance.now()))
    sentAt.push(performance.now())
    await send(chunk.bytes)
  }
  return sentAt
}

/** The reference: FFmpeg alone with the same arguments, chunks written to its stdin in real time. */
async function loneFfmpegLatency(chunks: WebmChunk[]): Promise<Array<number | undefined>> {
  const dir = tempDir('airwave-bench-ref-')
  const listed: Array<{ at: number; end: number }> = []
  const proc = Bun.spawn(
    [
      'ffmpeg',
      ...buildHlsArgs({
        outputDir: dir.path,
        segmentSeconds: SEGMENT_SECONDS,
        startNumber: 0,
        x264Preset: PRESET,
        frameRate: FRAME_RATE,
        fragmentSeconds: LL_FRAGMENT_SECONDS,
      }),
    ],
    { stdin: 'pipe', stdout: 'ignore', stderr: 'pipe' },
  )
  let total = 0
  const reading = (async () => {
    const decoder = new TextDecoder()
    let partial = ''
    const reader = proc.stderr.getReader()
    for (let r = await reader.read(); !r.done; r = await reader.read()) {
      const lines = (partial + decoder.decode(r.value, { stream: true })).split('\n')
      partial = lines.pop() ?? ''
      for (const line of lines) {
        const segment = parseSegmentListLine(line)
        if (!segment) continue
        total += segment.duration
        listed.push({ at: performance.now(), end: total })
      }
    }
  })()
  const sentAt = await realTime(chunks, async (bytes) => {
    await proc.stdin.write(bytes)
    await proc.stdin.flush()
  })
  await proc.stdin.end()
  await Promise.all([proc.exited, reading])
  dir.remove()
  return latencies(chunks, sentAt, listed)
}

/** Speed (× real time) of a lone FFmpeg transcoding the whole WebM from a file as fast as it can. */
async function loneFfmpegSpeed(webm: Uint8Array, mediaSeconds: number): Promise<number> {
  const dir = tempDir('airwave-bench-speed-')
  const input = join(dir.path, 'in.webm')
  await Bun.write(input, webm)
  const args = buildHlsArgs({
    outputDir: dir.path,
    segmentSeconds: SEGMENT_SECONDS,
    startNumber: 0,
    x264Preset: PRESET,
    frameRate: FRAME_RATE,
    fragmentSeconds: LL_FRAGMENT_SECONDS,
  })
  args[args.indexOf('pipe:0')] = input
  const started = performance.now()
  const proc = Bun.spawn(['ffmpeg', ...args], { stdout: 'ignore', stderr: 'ignore', stdin: 'ignore' })
  await proc.exited
  const seconds = (performance.now() - started) / 1000
  dir.remove()
  return mediaSeconds / seconds
}

/** CPU seconds (user + system) of a process and its children, its RSS and its children's, from /proc. */
function usage(pid: number): { cpu: number; rss: number; childRss: number } {
  const ticks = 100
  const one = (p: string) => {
    const stat = readFileSync(`/proc/${p}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    const rss = Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${p}/status`, 'utf8'))?.[1] ?? 0) * 1024
    return { ppid: Number(fields[1]), cpu: (Number(fields[11]) + Number(fields[12])) / ticks, rss }
  }
  let cpu = 0
  let rss = 0
  let childRss = 0
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue
    try {
      const u = one(p)
      if (Number(p) === pid) rss = u.rss
      if (u.ppid === pid) childRss += u.rss
      if (Number(p) === pid || u.ppid === pid) cpu += u.cpu
    } catch {
      // exited while we looked
    }
  }
  return { cpu, rss, childRss }
}

/**
 * Waits (at most 30 s) until the server's RSS holds within 2 % for 3 s. Just after its start it is about 1 GiB and
 * falls to about a third as the start-up garbage is collected; a base taken then hides any growth per stream.
 */
async function settleRss(pid: number): Promise<void> {
  const samples: number[] = []
  for (const deadline = performance.now() + 30_000; performance.now() < deadline; ) {
    samples.push(usage(pid).rss)
    const last = samples.slice(-4)
    if (last.length === 4 && Math.max(...last) <= Math.min(...last) * 1.02) return
    await Bun.sleep(1000)
  }
}

interface RunResult {
  streams: number
  keptPace: number
  maxLag: number
  restarts: number
  latencies: Array<number | undefined>
  cpuPerStream: number
  /** FFmpeg's peak RSS per stream. */
  ffmpegRssPerStream: number
  /** The server process's RSS growth per stream, at the peak. */
  serverRssPerStream: number
  baseRss: number
}

async function serverRun(
  server: Awaited<ReturnType<typeof startServer>>,
  token: string,
  chunks: WebmChunk[],
  count: number,
): Promise<RunResult> {
  const baseRss = usage(server.process.pid).rss
  const streams = await Promise.all(
    Array.from({ length: count }, async (_, i) => {
      const key = `bench-${count}-${i}`
      const client = await WsClient.open(server.url, { token })
      await client.request('start-stream', { streamKey: key }, 'stream-started')
      return { key, client, maxLag: 0 }
    }),
  )
  /** When segment n was listed: the arrival of the socket's `stream-segments-updated` with segmentCount n+1. */
  const listedAt = (client: WsClient) =>
    client.frames.flatMap((f, i) =>
      f.event === 'stream-segments-updated' ? [client.receivedAt[i] as number] : [],
    )
  const started = performance.now()
  const before = usage(server.process.pid)
  let peakRss = 0
  let peakChildRss = 0
  const sampler = setInterval(() => {
    const elapsed = (performance.now() - started) / 1000
    const now = usage(server.process.pid)
    peakRss = Math.max(peakRss, now.rss)
    peakChildRss = Math.max(peakChildRss, now.childRss)
    if (elapsed < WARMUP_S) return
    for (const stream of streams) {
      const media = listedAt(stream.client).length * SEGMENT_SECONDS
      stream.maxLag = Math.max(stream.maxLag, Math.min(elapsed, SECONDS) - media)
    }
  }, 500)
  const sent = await Promise.all(streams.map((s) => realTime(chunks, (bytes) => s.client.sendBinary(bytes))))
  const cpu = usage(server.process.pid).cpu - before.cpu
  await Bun.sleep(SEGMENT_SECONDS * 1000 + 1500)
  clearInterval(sampler)
  const statuses = await Promise.all(
    streams.map(async (s) => (await fetch(`${server.url}/livestream/${s.key}/status`)).json()),
  )
  const restarts = statuses.reduce((n, s) => n + (s.local.streamData?.restarts ?? 0), 0)
  const listed = await Promise.all(
    streams.map(async (s) => {
      // Segment durations from the playlist, listing times from the socket.
      const text = await (await fetch(`${server.url}/livestream/${s.key}/stream.m3u8`)).text()
      const at = listedAt(s.client)
      let end = 0
      return [...text.matchAll(/#EXTINF:([\d.]+),/g)].slice(0, at.length).map((m, n) => {
        end += Number(m[1])
        return { at: at[n] as number, end }
      })
    }),
  )
  const all = streams.flatMap((_, i) => latencies(chunks, sent[i] as number[], listed[i] ?? []))
  for (const s of streams) await s.client.request('end-stream', { streamKey: s.key }, 'stream-ended', 15_000)
  for (const s of streams) s.client.close()
  return {
    streams: count,
    keptPace: streams.filter((s, i) => s.maxLag <= MAX_LAG_S && !statuses[i].local.streamData?.restarts)
      .length,
    maxLag: Math.max(...streams.map((s) => s.maxLag)),
    restarts,
    latencies: all,
    cpuPerStream: cpu / SECONDS / count,
    ffmpegRssPerStream: peakChildRss / count,
    serverRssPerStream: Math.max(0, peakRss - baseRss) / count,
    baseRss,
  }
}

const webm = await makeWebm({ seconds: SECONDS, width: 1280, height: 720, fps: 30, videoBitrate: '2500k' })
const chunks = chunkWebm(webm)
const load = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')
console.log(`load average before: ${load()} (2 cores, shared)`)
console.log(
  `media: ${SECONDS} s of 1280×720 30 fps VP8 2.5 Mbit/s + Opus, ${chunks.length} chunks, ${webm.byteLength} bytes`,
)

const speed = await loneFfmpegSpeed(webm, SECONDS)
const reference = await loneFfmpegLatency(chunks)
const server = await startServer({
  LOG_LEVEL: 'error',
  LIVESTREAM_CONNECTIONS_PER_MIN: '100000',
  LIVESTREAM_HTTP_STATUS_PER_MIN: '100000',
  LIVESTREAM_HTTP_STREAM_PER_MIN: '100000',
})
const token = await server.token('bench')
const startRss = usage(server.process.pid).rss
await settleRss(server.process.pid)
const runs: RunResult[] = []
for (let n = 1; n <= MAX_STREAMS; n++) {
  const run = await serverRun(server, token, chunks, n)
  runs.push(run)
  console.log(
    `  ${n} stream(s): ${run.keptPace}/${n} kept pace, max lag ${run.maxLag.toFixed(1)} s, restarts ${run.restarts}`,
  )
  if (run.keptPace < n) break
}
await server.stop()

const single = runs[0] as RunResult
// Compare chunk for chunk: only chunks whose segment both listed while the stream was live.
const both = single.latencies.flatMap((v, i) => (v !== undefined && reference[i] !== undefined ? [i] : []))
const ours = both.map((i) => single.latencies[i] as number)
const theirs = both.map((i) => reference[i] as number)
const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length
console.log(
  '\nLatency: chunk arrival → segment holding its last frame listed (1 stream, real time, same chunks)',
)
console.table([
  {
    what: 'airwave (WebSocket → actor → FFmpeg → playlist)',
    p50: ms(percentile(ours, 50)),
    p95: ms(percentile(ours, 95)),
    mean: ms(mean(ours)),
    chunks: ours.length,
  },
  {
    what: 'reference: lone FFmpeg, same args, stdin pipe',
    p50: ms(percentile(theirs, 50)),
    p95: ms(percentile(theirs, 95)),
    mean: ms(mean(theirs)),
    chunks: theirs.length,
  },
])
console.log(
  `ratio airwave/reference: p50 ${(percentile(ours, 50) / percentile(theirs, 50)).toFixed(2)}, p95 ${(
    percentile(ours, 95) / percentile(theirs, 95)
  ).toFixed(2)}, mean ${(mean(ours) / mean(theirs)).toFixed(2)}; target p95 ≤ ${SEGMENT_SECONDS + 0.5} s`,
)

console.log(`\nConcurrent 720p30 streams fed in real time (keeping pace: lag ≤ ${MAX_LAG_S} s, no restarts)`)
console.table(
  runs.map((r) => ({
    streams: r.streams,
    'kept pace': `${r.keptPace}/${r.streams}`,
    'max lag': `${r.maxLag.toFixed(1)} s`,
    'latency p50/p95': `${ms(percentile(defined(r.latencies), 50))} / ${ms(percentile(defined(r.latencies), 95))}`,
    'CPU per stream (server + FFmpeg)': `${(r.cpuPerStream * 100).toFixed(0)} % of a core`,
    'FFmpeg RSS per stream': `${(r.ffmpegRssPerStream / 2 ** 20).toFixed(0)} MiB`,
    'server RSS growth per stream': `${(r.serverRssPerStream / 2 ** 20).toFixed(1)} MiB`,
  })),
)
const sustained = runs.filter((r) => r.keptPace === r.streams).at(-1)?.streams ?? 0
console.log(
  `sustained: ${sustained} streams (target ≥ 4); lone FFmpeg speed ${speed.toFixed(1)}× real time; ` +
    `ratio sustained/lone-speed ${(sustained / speed).toFixed(2)}; server RSS ${(startRss / 2 ** 20).toFixed(0)} MiB at start, ${(single.baseRss / 2 ** 20).toFixed(0)} MiB settled; ` +
    `load average after: ${load()}`,
)
