/**
 * Scanner calls under load: uploaders POST 10 s trunk-recorder calls (m4a, AAC-LC 16 kHz mono 32k) to
 * `/api/call-upload` with `BENCH_CONCURRENCY` in flight, for `BENCH_SECONDS`; one SSE listener on the system measures
 * upload start → the call's first `audio_chunk`. Reported: calls/s sustained, × real time (calls/s × call length),
 * latency p50/p99, CPU per call of the server (its threads and its FFmpeg children) and of this load client. The
 * references, in the same run and with the same concurrency: a bare FFmpeg doing the fallback's transcode (same
 * arguments), and the addon's in-process transcode called directly (the floor for Airwave's own path).
 *
 *   bun test/bench/calls.bench.ts     (BENCH_SECONDS=20, BENCH_CONCURRENCY=4, BENCH_CALL_SECONDS=10 by default)
 *
 * The calls are synthetic speech (FFmpeg's flite) as a scanner records it: at 8 kHz (trunk-recorder's and SDRTrunk's
 * rate; P25/DMR vocoders and analog channels carry nothing above 4 kHz), then made into the issue's m4a (AAC-LC 16 kHz
 * mono 32k). BENCH_AUDIO=wideband keeps flite's 16 kHz speech with its upper band (Airwave codes it as wideband, at
 * twice libopus's work); BENCH_AUDIO=speech8k leaves the m4a at 8 kHz (AAC-LC 8 kHz mono 16k); BENCH_AUDIO=tone sends
 * a 600 Hz tone (session 6's default).
 * BENCH_COMPLEXITY sets CALL_OPUS_COMPLEXITY (default: the server's own default, 3); BENCH_TRANSCODER=ffmpeg runs the
 * server with CALL_TRANSCODER=ffmpeg (one FFmpeg per call, the previous design).
 *
 * A second Airwave run paces calls (BENCH_PACED_PER_SECOND, default 2/s) to measure latency under a steady load
 * rather than at saturation, where it is only queueing. Targets (issue 15): ≥ 20 calls/s of 10 s calls on this
 * 2-core machine and ≥ 50× real time; p99 upload → first audio_chunk ≤ 500 ms for a 10 s call.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { opusVoiceArgs } from '../../src/platform/opus-transcode.ts'
import { VoiceTranscoders } from '../../src/platform/voice-workers.ts'
import { callAudio, rdioScannerForm, upload } from '../calls/support.ts'
import { SseClient } from '../radio/support.ts'
import { makeFromLavfi } from '../support/audio.ts'
import { startServer } from '../support/server.ts'
import { tempDir } from '../support/tmp.ts'
import { LatencyHistogram } from './support.ts'

const SECONDS = Number(process.env.BENCH_SECONDS ?? 20)
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 4)
const CALL_SECONDS = Number(process.env.BENCH_CALL_SECONDS ?? 10)
const KEY = 'bench-key'
const AUDIO =
  (['wideband', 'speech8k', 'tone'] as const).find((a) => a === process.env.BENCH_AUDIO) ?? 'radio'
const COMPLEXITY = Number(process.env.BENCH_COMPLEXITY ?? 3)
const TRANSCODER = process.env.BENCH_TRANSCODER === 'ffmpeg' ? 'ffmpeg' : 'native'

/** CPU seconds of `pid`'s threads plus its children that have exited (the server's FFmpeg runs). */
function cpuWithChildren(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return [11, 12, 13, 14].reduce((sum, at) => sum + Number(fields[at]), 0) / 100
}

function ownCpu(): number {
  const usage = process.cpuUsage()
  return (usage.user + usage.system) / 1e6
}

/**
 * An m4a of `seconds` of synthetic speech (FFmpeg's flite voice, looped), AAC-LC mono at `rate`; `voiceRate` 8000
 * passes the voice through 8 kHz first, as a scanner records it.
 */
async function speechAudio(
  seconds: number,
  rate: 8000 | 16000,
  voiceRate: 8000 | 16000,
): Promise<Uint8Array> {
  const dir = tempDir('airwave-speech-')
  try {
    const text =
      'Engine seven responding to a structure fire at four hundred North Main Street, cross street Elm. Medic twelve also en route. Dispatch copies, time is fourteen thirty two.'
    const path = await makeFromLavfi(dir.path, 'speech.m4a', `flite=text='${text}':voice=slt`, [
      ...['-af', `aloop=loop=-1:size=2e9,aresample=${voiceRate}`, '-t', String(seconds)],
      ...['-ac', '1', '-ar', String(rate), '-c:a', 'aac', '-b:a', rate === 8000 ? '16k' : '32k'],
    ])
    return new Uint8Array(readFileSync(path))
  } finally {
    dir.remove()
  }
}

interface Row {
  name: string
  calls: number
  seconds: number
  p50?: number
  p99?: number
  cpuPerCall?: number
  clientCpuPerCall?: number
  failures: number
}

/** Calls per second of the paced latency run: a busy county's traffic, well under saturation. */
const PACED_PER_SECOND = Number(process.env.BENCH_PACED_PER_SECOND ?? 2)

interface Counts {
  done: number
  failures: number
  seconds: number
}

/** Runs `work` with CONCURRENCY workers until SECONDS pass (saturation: the most calls/s); counts completions. */
async function sustain(work: (n: number) => Promise<boolean>, first = 0): Promise<Counts> {
  const started = performance.now()
  const deadline = started + SECONDS * 1000
  let next = first
  let done = 0
  let failures = 0
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (performance.now() < deadline) {
        if (await work(next++)) done++
        else failures++
      }
    }),
  )
  return { done, failures, seconds: (performance.now() - started) / 1000 }
}

/** Starts one call every 1/PACED_PER_SECOND s for SECONDS, whatever the replies (latency under a steady load). */
async function paced(work: (n: number) => Promise<boolean>, first: number): Promise<Counts> {
  const started = performance.now()
  const runs: Promise<boolean>[] = []
  for (let i = 0; performance.now() - started < SECONDS * 1000; i++) {
    runs.push(work(first + i))
    await Bun.sleep(Math.max(0, started + ((i + 1) * 1000) / PACED_PER_SECOND - performance.now()))
  }
  const results = await Promise.all(runs)
  const done = results.filter(Boolean).length
  return { done, failures: results.length - done, seconds: (performance.now() - started) / 1000 }
}

async function bareFfmpeg(audioPath: string, dir: string): Promise<Row> {
  const result = await sustain(async (n) => {
    const args = opusVoiceArgs('ffmpeg', audioPath, join(dir, `out-${n % (CONCURRENCY * 2)}.opus`), {
      maxSeconds: 600,
      maxOutputBytes: 4 * 1024 * 1024,
      complexity: COMPLEXITY,
    })
    const proc = Bun.spawn(args, { stdout: 'ignore', stderr: 'ignore', stdin: 'ignore' })
    return (await proc.exited) === 0
  })
  return {
    name: `bare FFmpeg transcode (complexity ${COMPLEXITY})`,
    calls: result.done,
    seconds: result.seconds,
    failures: result.failures,
  }
}

/**
 * The addon's transcode on worker threads as the server runs it (2 workers: CALL_TRANSCODE_CONCURRENCY's default),
 * with the server's options: what Airwave's own path costs at least.
 */
async function bareNative(audio: Uint8Array): Promise<Row> {
  const workers = new VoiceTranscoders(2)
  const cpuBefore = ownCpu()
  const result = await sustain(async () => {
    const voice = await workers.transcode(audio.slice(), {
      bitrate: 16_000,
      complexity: COMPLEXITY,
      maxSeconds: 600,
      maxOutputBytes: 4 * 1024 * 1024,
    })
    return voice.ok
  })
  workers.close()
  return {
    name: `bare in-process transcode (complexity ${COMPLEXITY})`,
    calls: result.done,
    seconds: result.seconds,
    cpuPerCall: (ownCpu() - cpuBefore) / Math.max(1, result.done),
    failures: result.failures,
  }
}

async function airwave(audio: Uint8Array): Promise<Row[]> {
  const server = await startServer({
    INGEST_API_KEYS: KEY,
    LOG_LEVEL: 'error',
    CALL_OPUS_COMPLEXITY: String(COMPLEXITY),
    CALL_TRANSCODER: TRANSCODER,
  })
  try {
    const listener = await SseClient.open(`${server.url}/api/v1/stream-listen?system=1`)
    const sentAt = new Map<string, number>()
    let latency = new LatencyHistogram()
    let heard = 0
    // Watch the listener's events as they arrive: the first audio_chunk of each call closes its sample.
    const seen = new Set<string>()
    const watch = setInterval(() => {
      for (const event of listener.events.splice(0)) {
        if (event.event !== 'audio_chunk') continue
        const id = /"transmission_id":"([^"]+)"/.exec(event.data)?.[1]
        if (!id || seen.has(id)) continue
        seen.add(id)
        const at = sentAt.get(id)
        if (at !== undefined) {
          latency.record(performance.now() - at)
          heard++
        }
      }
    }, 1)
    const base = 1767446100
    const send = async (n: number) => {
      // A new talkgroup per call: never a duplicate of another.
      const talkgroup = 1000 + n
      const id = `c1_tg${talkgroup}_${new Date((base + n) * 1000)
        .toISOString()
        .slice(0, 23)
        .replace(/[-T:.]/g, '')}`
      sentAt.set(id, performance.now())
      const reply = await upload(
        `${server.url}/api/call-upload`,
        rdioScannerForm(
          { bytes: audio, fileName: 'call.m4a', contentType: 'audio/mp4' },
          { key: KEY, system: '1', talkgroup: String(talkgroup), dateTime: String(base + n) },
        ),
      )
      return reply.status === 200
    }
    const measure = async (name: string, run: () => Promise<Counts>): Promise<Row> => {
      latency = new LatencyHistogram()
      heard = 0
      const cpuBefore = cpuWithChildren(server.process.pid)
      const clientBefore = ownCpu()
      const result = await run()
      const cpu = cpuWithChildren(server.process.pid) - cpuBefore
      const clientCpu = ownCpu() - clientBefore
      await Bun.sleep(300)
      return {
        name,
        calls: result.done,
        seconds: result.seconds,
        p50: latency.percentile(0.5),
        p99: latency.percentile(0.99),
        cpuPerCall: cpu / Math.max(1, result.done),
        clientCpuPerCall: clientCpu / Math.max(1, result.done),
        failures: result.failures + (result.done - heard),
      }
    }
    const saturated = await measure(`Airwave (${TRANSCODER}), ${CONCURRENCY} uploads in flight`, () =>
      sustain(send),
    )
    const steady = await measure(`Airwave (${TRANSCODER}), ${PACED_PER_SECOND} calls/s paced`, () =>
      paced(send, 1_000_000),
    )
    clearInterval(watch)
    listener.close()
    return [saturated, steady]
  } finally {
    await server.stop()
  }
}

const dir = tempDir('airwave-calls-bench-')
try {
  const audio =
    AUDIO === 'tone'
      ? await callAudio('m4a', CALL_SECONDS)
      : await speechAudio(
          CALL_SECONDS,
          AUDIO === 'speech8k' ? 8000 : 16000,
          AUDIO === 'wideband' ? 16000 : 8000,
        )
  const audioPath = join(dir.path, 'call.m4a')
  await Bun.write(audioPath, audio)
  console.log(
    `calls bench: ${CALL_SECONDS} s calls (${AUDIO}, m4a ${audio.byteLength} bytes), ${CONCURRENCY} in flight, ${SECONDS} s per run, libopus complexity ${COMPLEXITY}, server transcoder ${TRANSCODER}, load ${(await Bun.file('/proc/loadavg').text()).split(' ')[0]}`,
  )
  const floor = await bareFfmpeg(audioPath, dir.path)
  const inProcess = await bareNative(audio)
  const [ours, steady] = (await airwave(audio)) as [Row, Row]
  console.log(
    '\n| run | calls | calls/s | × real time | upload → first chunk p50 / p99 | CPU per call: server / load client | failures |',
  )
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: |')
  const ms = (seconds: number | undefined) =>
    seconds === undefined ? '–' : `${(seconds * 1000).toFixed(1)} ms`
  for (const row of [floor, inProcess, ours, steady]) {
    const rate = row.calls / row.seconds
    console.log(
      `| ${row.name} | ${row.calls} | ${rate.toFixed(1)} | ${(rate * CALL_SECONDS).toFixed(0)}× | ${
        row.p50 === undefined ? '–' : `${row.p50.toFixed(1)} / ${row.p99?.toFixed(1)} ms`
      } | ${ms(row.cpuPerCall)}${row.clientCpuPerCall === undefined ? '' : ` / ${ms(row.clientCpuPerCall)}`} | ${row.failures} |`,
    )
  }
  console.log(
    `\nAirwave calls/s / bare FFmpeg: ${(ours.calls / ours.seconds / (floor.calls / floor.seconds)).toFixed(2)}, / bare in-process: ${(ours.calls / ours.seconds / (inProcess.calls / inProcess.seconds)).toFixed(2)}`,
  )
} finally {
  dir.remove()
}
