/** What the benches share: latency histograms, reference servers in their own process, and CPU accounting. */
import { readFileSync } from 'node:fs'
import type { Subprocess } from 'bun'

/** Latency samples in 0.1 ms buckets up to 30 s: constant memory however many events a run sees. */
export class LatencyHistogram {
  private static readonly BUCKET_MS = 0.1
  private readonly buckets = new Uint32Array(300_000)
  private samples = 0

  record(ms: number): void {
    const bucket = Math.min(this.buckets.length - 1, Math.max(0, Math.floor(ms / LatencyHistogram.BUCKET_MS)))
    this.buckets[bucket] = (this.buckets[bucket] as number) + 1
    this.samples++
  }

  /** The `p` quantile (0–1) in ms, to the bucket's upper edge; NaN without samples. */
  percentile(p: number): number {
    const target = Math.ceil(this.samples * p)
    let seen = 0
    for (let i = 0; i < this.buckets.length; i++) {
      seen += this.buckets[i] as number
      if (seen >= target) return (i + 1) * LatencyHistogram.BUCKET_MS
    }
    return Number.NaN
  }
}

/** A reference server in its own process. */
export interface FloorProcess {
  port: number
  proc: Subprocess
  stop(): Promise<void>
}

/** Runs `bun <script> ...args` and waits for its `listening on <port>` line. */
export async function startFloorProcess(script: string, ...args: string[]): Promise<FloorProcess> {
  const proc = Bun.spawn(['bun', script, ...args], { stdout: 'pipe', stderr: 'inherit' })
  const reader = proc.stdout.getReader()
  let text = ''
  while (!/listening on (\d+)/.test(text)) {
    const part = await reader.read()
    if (part.done) throw new Error(`${script} did not start`)
    text += new TextDecoder().decode(part.value)
  }
  reader.releaseLock()
  return {
    port: Number(/listening on (\d+)/.exec(text)?.[1]),
    proc,
    stop: () => stopProcess(proc),
  }
}

/** Ends a reference process (SIGTERM) and waits for it to be gone. */
export async function stopProcess(proc: Subprocess): Promise<void> {
  proc.kill()
  await proc.exited
}

/** CPU seconds (user + system, all threads) the process has used so far, from /proc (10 ms ticks). */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(fields[11]) + Number(fields[12])) / 100
}
