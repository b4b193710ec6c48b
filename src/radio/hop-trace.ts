/**
 * Per-hop timestamps of radio chunks, for finding where ingest→listener latency goes (test/bench/cluster.bench.ts).
 * Off unless `AIRWAVE_RADIO_TRACE` names a folder: then each process appends `hop slot sequence epochMs` lines to
 * `<folder>/<pid>.trace` once a second. Off, every call is one check of a constant.
 */
import { appendFileSync } from 'node:fs'
import { join } from 'node:path'

const folder = process.env.AIRWAVE_RADIO_TRACE ?? ''
export const tracingHops = folder !== ''

let lines: string[] = []
if (tracingHops) {
  const file = join(folder, `${process.pid}.trace`)
  const flush = () => {
    if (lines.length === 0) return
    appendFileSync(file, `${lines.join('\n')}\n`)
    lines = []
  }
  setInterval(flush, 1000).unref()
  process.on('exit', flush)
}

/** Epoch ms with sub-millisecond resolution (the same clock in every process of the machine). */
export const preciseNow = () => performance.timeOrigin + performance.now()

export function traceHop(hop: string, slot: number, sequence: number, at = preciseNow()): void {
  lines.push(`${hop} ${slot} ${sequence} ${at.toFixed(3)}`)
}

/** The sequence of an `audio_chunk` event's data (`{"sequence":N,...`), or -1. */
export function sequenceOf(data: string): number {
  const match = /"sequence":(\d+)/.exec(data)
  return match ? Number(match[1]) : -1
}
