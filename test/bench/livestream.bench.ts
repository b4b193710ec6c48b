/**
 * Livestream, in one run: (1) latency, one 1280×720 30 fps stream sent in real time as 100 ms chunks (as the
 * broadcaster page's MediaRecorder does): chunk arrival → the MPEG-TS segment holding its last frame listed in
 * stream.m3u8 (today's playlist; also for a lone FFmpeg with today's arguments, the reference) and → the LL-HLS
 * part holding it listed in ll.m3u8 (seen by a blocking-reload client like hls.js); and the playing latency in
 * headless Chromium with hls.js, on ll.m3u8 (the viewer page's figure, now − program date time at the playhead)
 * and on stream.m3u8; (2) CPU of a lone FFmpeg with today's arguments (MPEG-TS only) against the LL-HLS ones (the
 * same encode teed to MPEG-TS and fMP4), fed in real time; (3) how many such streams the server runs at once
 * with every stream keeping pace, with server + FFmpeg CPU and memory per stream and the LL part latency.
 *
 *   bun test/bench/livestream.bench.ts     (BENCH_SECONDS=60 of media for (1) and (2), BENCH_LOAD_SECONDS=20
 *                                           per run of (3), BENCH_MAX_STREAMS=6)
 */
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Browser, Page } from 'playwright-core'
import { buildHlsArgs, parseSegmentListLine } from '../../src/livestream/hls-args.ts'
import { FRAME_RATE, LL_FRAGMENT_SECONDS } from '../../src/livestream/service.ts'
import { launchBrowser } from '../support/browser.ts'
import { parseLlPlaylist, partNumber } from '../support/ll-playlist.ts'
import { startServer } from '../support/server.ts'
import { tempDir } from '../support/tmp.ts'
import { chunkWebm, makeWebm, type WebmChunk } from '../support/webm.ts'
import { WsClient } from '../support/ws-client.ts'

const SECONDS = Number(process.env.BENCH_SECONDS ?? 60)
const LOAD_SECONDS = Number(process.env.BENCH_LOAD_SECONDS ?? 20)
const MAX_STREAMS = Number(process.env.BENCH_MAX_STREAMS ?? 6)
const SEGMENT_SECONDS = 2
const PRESET = 'veryfast'
/** MediaRecorder timeslice of the broadcaster page. */
const SLICE_MS = 100
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

/**
 * Sends chunk i at start + (i+1) slices, as MediaRecorder hands a chunk over after each slice; `onStart` gets
 * the start, the wall-clock moment media time 0 was "captured".
 */
async function realTime(
  chunks: WebmChunk[],
  send: (bytes: Uint8Array) => void | Promise<void>,
  onStart: (start: number) => void = () => {},
): Promise<number[]> {
  const start = performance.now()
  onStart(start)
  const sentAt: number[] = []
  for (const [i, chunk] of chunks.entries()) {
    const due = start + (i + 1) * SLICE_MS
    await Bun.sleep(Math.max(0, due - performance.now()))
    sentAt.push(performance.now())
    await send(chunk.bytes)
  }
  return sentAt
}

/**
 * Today's FFmpeg arguments, the reference: the same encode as the LL-HLS ones, but MPEG-TS segments only (no tee
 * to fMP4, no global header), the segment list on stderr.
 */
function todayArgs(dir: string): string[] {
  const args = llArgs(dir).filter((a) => a !== '+global_header')
  args.splice(args.indexOf('-flags'), 1)
  const tee = args.indexOf('tee')
  args.splice(
    tee - 1,
    3,
    '-f',
    'segment',
    '-segment_format',
    'mpegts',
    '-segment_time',
    String(SEGMENT_SECONDS),
    '-segment_list',
    'pipe:2',
    '-segment_list_type',
    'csv',
    join(dir, 'segment_%d.ts'),
  )
  return args
}

function llArgs(dir: string): string[] {
  return buildHlsArgs({
    outputDir: dir,
    segmentSeconds: SEGMENT_SECONDS,
    startNumber: 0,
    x264Preset: PRESET,
    frameRate: FRAME_RATE,
    fragmentSeconds: LL_FRAGMENT_SECONDS,
  })
}

/**
 * FFmpeg alone with `args`, chunks written to its stdin in real time: per chunk, the latency to the listing of
 * the MPEG-TS segment holding its last frame, and FFmpeg's CPU (share of a core).
 */
async function loneFfmpeg(
  chunks: WebmChunk[],
  args: (dir: string) => string[],
): Promise<{ latencies: Array<number | undefined>; cpu: number }> {
  const dir = tempDir('airwave-bench-ref-')
  const listed: Array<{ at: number; end: number }> = []
  const proc = Bun.spawn(['ffmpeg', ...args(dir.path)], { stdin: 'pipe', stdout: 'ignore', stderr: 'pipe' })
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
  const started = performance.now()
  const sentAt = await realTime(chunks, async (bytes) => {
    await proc.stdin.write(bytes)
    await proc.stdin.flush()
  })
  await proc.stdin.end()
  await Promise.all([proc.exited, reading])
  const seconds = (performance.now() - started) / 1000
  const used = proc.resourceUsage()
  const cpu = used ? Number(used.cpuTime.user + used.cpuTime.system) / 1e6 / seconds : Number.NaN
  dir.remove()
  return { latencies: latencies(chunks, sentAt, listed), cpu }
}

/**
 * Follows ll.m3u8 as hls.js does (a blocking reload for the next part each time) until the stream ends; records
 * when each part was first listed and where its media ends (seconds from the stream's start).
 */
async function followParts(
  url: string,
  parts: Array<{ at: number; end: number }>,
  stop: AbortSignal,
): Promise<void> {
  let query = ''
  let end = 0
  let seen = -1
  while (!stop.aborted) {
    const response = await fetch(`${url}${query}`, { signal: stop }).catch(() => null)
    if (!response?.ok) {
      await Bun.sleep(50)
      continue
    }
    const list = parseLlPlaylist(await response.text())
    const at = performance.now()
    for (const segment of list.segments)
      for (const part of segment.parts) {
        const n = partNumber(part.uri)
        if (n <= seen) continue
        seen = n
        end += part.duration
        parts.push({ at, end })
      }
    if (list.ended) return
    const last = list.segments.at(-1)
    if (!last) continue
    query =
      last.uri === null
        ? `?_HLS_msn=${last.msn}&_HLS_part=${last.parts.length}`
        : `?_HLS_msn=${last.msn + 1}&_HLS_part=0`
  }
}

/** Speed (× real time) of a lone FFmpeg transcoding the whole WebM from a file as fast as it can. */
async function loneFfmpegSpeed(webm: Uint8Array, mediaSeconds: number): Promise<number> {
  const dir = tempDir('airwave-bench-speed-')
  const input = join(dir.path, 'in.webm')
  await Bun.write(input, webm)
  const args = llArgs(dir.path)
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
  /** Per chunk: arrival → MPEG-TS segment holding its last frame listed in stream.m3u8. */
  latencies: Array<number | undefined>
  /** Per chunk: arrival → LL-HLS part holding its last frame listed in ll.m3u8. */
  partLatencies: Array<number | undefined>
  cpuPerStream: number
  /** FFmpeg's peak RSS per stream. */
  ffmpegRssPerStream: number
  /** The server process's RSS growth per stream, at the peak. */
  serverRssPerStream: number
  baseRss: number
  /** Playing latency samples (seconds), when browsers watched the stream. */
  playing?: PlayingSamples
}

interface PlayingSamples {
  /** The viewer page on ll.m3u8: its own figure, now − program date time at the playhead. */
  llProgramDate: number[]
  /** The same player by the stream clock: now − (moment media time 0 was sent + the playhead's media time). */
  llStreamClock: number[]
  /** hls.js on stream.m3u8 with today's viewer settings, by the stream clock (that playlist has no date). */
  tsStreamClock: number[]
}

/** hls.js on stream.m3u8 as the viewer page played it before LL-HLS (`liveSyncDurationCount: 2`). */
async function tsPlayer(browser: Browser, serverUrl: string, key: string): Promise<Page> {
  const page = await browser.newPage()
  await page.goto(`${serverUrl}/live`)
  await page.addScriptTag({ url: '/live/assets/hls.min.js' })
  await page.evaluate((src) => {
    const video = document.createElement('video')
    video.id = 'video'
    video.muted = true
    document.body.append(video)
    const hls = new (window as unknown as { Hls: new (c: object) => HlsLike }).Hls({
      liveSyncDurationCount: 2,
    })
    hls.loadSource(src)
    hls.attachMedia(video)
    void video.play().catch(() => {})
  }, `/livestream/${key}/stream.m3u8`)
  return page
}

interface HlsLike {
  loadSource(url: string): void
  attachMedia(video: HTMLVideoElement): void
}

/** The playhead's media time (s) and, where the page shows it, its latency figure (ms). */
const readPlayer = (page: Page) =>
  page.evaluate(() => {
    const video = document.getElementById('video') as HTMLVideoElement | null
    const shown = document.getElementById('latency')?.dataset.ms
    return {
      time: video && !video.paused && video.readyState >= 2 ? video.currentTime : null,
      shown: shown === undefined ? null : Number(shown),
    }
  })

async function serverRun(
  server: Awaited<ReturnType<typeof startServer>>,
  token: string,
  chunks: WebmChunk[],
  count: number,
  seconds: number,
  browser?: Browser,
): Promise<RunResult> {
  const baseRss = usage(server.process.pid).rss
  const streams = await Promise.all(
    Array.from({ length: count }, async (_, i) => {
      const key = `bench-${count}-${i}`
      const client = await WsClient.open(server.url, { token })
      await client.request('start-stream', { streamKey: key }, 'stream-started')
      return { key, client, maxLag: 0, parts: [] as Array<{ at: number; end: number }> }
    }),
  )
  const stopFollowing = new AbortController()
  const following = streams.map((s) =>
    followParts(`${server.url}/livestream/${s.key}/ll.m3u8`, s.parts, stopFollowing.signal),
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
      stream.maxLag = Math.max(stream.maxLag, Math.min(elapsed, seconds) - media)
    }
  }, 500)

  let mediaZero = 0
  const playing: PlayingSamples = { llProgramDate: [], llStreamClock: [], tsStreamClock: [] }
  const watching = (async () => {
    const first = streams[0]
    if (!browser || !first) return
    const viewer = await browser.newPage()
    await viewer.goto(`${server.url}/live/${first.key}`)
    await first.client.next((f) => f.event === 'stream-segments-updated', 30_000)
    const ts = await tsPlayer(browser, server.url, first.key)
    while (performance.now() - started < seconds * 1000) {
      await Bun.sleep(500)
      if (performance.now() - started < 2 * WARMUP_S * 1000) continue
      const [ll, old] = await Promise.all([readPlayer(viewer), readPlayer(ts)])
      const now = performance.now()
      if (ll.shown !== null) playing.llProgramDate.push(ll.shown / 1000)
      if (ll.time !== null) playing.llStreamClock.push((now - mediaZero) / 1000 - ll.time)
      if (old.time !== null) playing.tsStreamClock.push((now - mediaZero) / 1000 - old.time)
    }
    await Promise.all([viewer.close(), ts.close()])
  })()

  const sent = await Promise.all(
    streams.map((s, i) =>
      realTime(
        chunks,
        (bytes) => s.client.sendBinary(bytes),
        (start) => {
          if (i === 0) mediaZero = start
        },
      ),
    ),
  )
  const cpu = usage(server.process.pid).cpu - before.cpu
  await watching
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
  // The parts listed while the stream was live (the last ones come with its end, not counted).
  const partLatencies = streams.flatMap((s, i) => latencies(chunks, sent[i] as number[], s.parts))
  for (const s of streams) await s.client.request('end-stream', { streamKey: s.key }, 'stream-ended', 15_000)
  stopFollowing.abort()
  await Promise.all(following)
  for (const s of streams) s.client.close()
  return {
    streams: count,
    keptPace: streams.filter((s, i) => s.maxLag <= MAX_LAG_S && !statuses[i].local.streamData?.restarts)
      .length,
    maxLag: Math.max(...streams.map((s) => s.maxLag)),
    restarts,
    latencies: all,
    partLatencies,
    cpuPerStream: cpu / seconds / count,
    ffmpegRssPerStream: peakChildRss / count,
    serverRssPerStream: Math.max(0, peakRss - baseRss) / count,
    baseRss,
    ...(browser ? { playing } : {}),
  }
}

const makeChunks = async (seconds: number) => {
  const webm = await makeWebm({ seconds, width: 1280, height: 720, fps: 30, videoBitrate: '2500k' })
  return { webm, chunks: chunkWebm(webm, SLICE_MS) }
}
const long = await makeChunks(SECONDS)
const short = LOAD_SECONDS === SECONDS ? long : await makeChunks(LOAD_SECONDS)
const load = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')
console.log(`load average before: ${load()} (2 cores, shared)`)
console.log(
  `media: ${SECONDS} s (latency, CPU) and ${LOAD_SECONDS} s (each load run) of 1280×720 30 fps VP8 2.5 Mbit/s + Opus, ` +
    `${SLICE_MS} ms chunks (${long.chunks.length} and ${short.chunks.length})`,
)

const speed = await loneFfmpegSpeed(short.webm, LOAD_SECONDS)
const today = await loneFfmpeg(long.chunks, todayArgs)
const teed = await loneFfmpeg(long.chunks, llArgs)
const server = await startServer({
  LOG_LEVEL: 'error',
  LIVESTREAM_CONNECTIONS_PER_MIN: '100000',
  LIVESTREAM_HTTP_STATUS_PER_MIN: '100000',
  LIVESTREAM_HTTP_STREAM_PER_MIN: '100000',
})
const token = await server.token('bench')
const startRss = usage(server.process.pid).rss
await settleRss(server.process.pid)
const browser = await launchBrowser()
const single = await serverRun(server, token, long.chunks, 1, SECONDS, browser)
await browser.close()
console.log(`  latency run: ${SECONDS} s, restarts ${single.restarts}`)
const runs: RunResult[] = []
for (let n = 1; n <= MAX_STREAMS; n++) {
  const run = await serverRun(server, token, short.chunks, n, LOAD_SECONDS)
  runs.push(run)
  console.log(
    `  ${n} stream(s): ${run.keptPace}/${n} kept pace, max lag ${run.maxLag.toFixed(1)} s, restarts ${run.restarts}`,
  )
  if (run.keptPace < n) break
}
await server.stop()

const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length
const row = (what: string, values: number[], target = '') => ({
  what,
  p50: ms(percentile(values, 50)),
  p95: ms(percentile(values, 95)),
  mean: ms(mean(values)),
  samples: values.length,
  target,
})
// Compare chunk for chunk: only chunks whose segment both listed while the stream was live.
const both = single.latencies.flatMap((v, i) =>
  v !== undefined && today.latencies[i] !== undefined ? [i] : [],
)
const playing = single.playing as PlayingSamples
console.log(
  `\nLatency, 1 stream, ${SECONDS} s in real time, ${SLICE_MS} ms chunks (playing: headless Chromium, hls.js, sampled every 0.5 s after ${2 * WARMUP_S} s)`,
)
console.table([
  row(
    'chunk → TS segment listed (stream.m3u8), airwave',
    both.map((i) => single.latencies[i] as number),
  ),
  row(
    "chunk → TS segment listed, lone FFmpeg with today's args",
    both.map((i) => today.latencies[i] as number),
    `${SEGMENT_SECONDS + 0.5} s p95`,
  ),
  row(
    'chunk → LL part listed (ll.m3u8, blocking reload), airwave',
    defined(single.partLatencies),
    '≤ 500 ms p95',
  ),
  row(
    'playing, hls.js on ll.m3u8: now − program date time (viewer page)',
    playing.llProgramDate,
    '≤ 1500 ms p50',
  ),
  row('playing, hls.js on ll.m3u8: by the stream clock', playing.llStreamClock),
  row("playing, hls.js on stream.m3u8 (today's viewer): by the stream clock", playing.tsStreamClock),
])

console.log(
  `\nCPU per stream (share of one core): FFmpeg alone fed ${SECONDS} s in real time, and the whole server`,
)
console.table([
  { what: "today's args: MPEG-TS segments only", cpu: `${(today.cpu * 100).toFixed(1)} %` },
  { what: 'LL-HLS args: the same encode teed to MPEG-TS and fMP4', cpu: `${(teed.cpu * 100).toFixed(1)} %` },
  { what: 'ratio (target ≤ 1.15)', cpu: (teed.cpu / today.cpu).toFixed(2) },
  {
    what: 'airwave, 1 stream: server + FFmpeg, one LL-HLS client following (first load run)',
    cpu: `${((runs[0]?.cpuPerStream ?? Number.NaN) * 100).toFixed(1)} %`,
  },
])

console.log(`\nConcurrent 720p30 streams fed in real time (keeping pace: lag ≤ ${MAX_LAG_S} s, no restarts)`)
console.table(
  runs.map((r) => ({
    streams: r.streams,
    'kept pace': `${r.keptPace}/${r.streams}`,
    'max lag': `${r.maxLag.toFixed(1)} s`,
    'TS segment p50/p95': `${ms(percentile(defined(r.latencies), 50))} / ${ms(percentile(defined(r.latencies), 95))}`,
    'LL part p50/p95': `${ms(percentile(defined(r.partLatencies), 50))} / ${ms(percentile(defined(r.partLatencies), 95))}`,
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
