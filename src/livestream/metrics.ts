import { Counter, Gauge } from 'prom-client'
import { registry } from '../platform/metrics.ts'

/** Livestream metrics on the shared /metrics registry. */
export const livestreamMetrics = {
  started: new Counter({
    name: 'airwave_livestreams_started_total',
    help: 'Livestreams started (WebSocket or HTTP)',
    registers: [registry],
  }),
  segments: new Counter({
    name: 'airwave_livestream_segments_total',
    help: 'HLS segments FFmpeg finished, all streams',
    registers: [registry],
  }),
  ffmpegRunning: new Gauge({
    name: 'airwave_livestream_ffmpeg_processes',
    help: 'FFmpeg processes running for livestreams',
    registers: [registry],
  }),
  ffmpegRestarts: new Counter({
    name: 'airwave_livestream_ffmpeg_restarts_total',
    help: 'FFmpeg processes started after the first for a stream (exit, stall, overload or a new WebM header)',
    registers: [registry],
  }),
  llRefused: new Counter({
    name: 'airwave_livestream_ll_refused_total',
    help: 'Blocking LL-HLS requests answered 503, by reason (timeout: the part did not come in 3 target durations; busy: too many waiting)',
    labelNames: ['reason'] as const,
    registers: [registry],
  }),
  limited: new Counter({
    name: 'airwave_livestream_limited_total',
    help: 'Livestream events refused by a limit, by limit',
    labelNames: ['limit'] as const,
    registers: [registry],
  }),
}
