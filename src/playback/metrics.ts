import { Counter, Gauge } from 'prom-client'
import { registry } from '../platform/metrics.ts'

/** Playback session metrics, served at /metrics. */
export const playbackMetrics = {
  changes: new Counter({
    name: 'airwave_playback_changes_total',
    help: 'Playback changes (play, pause, update) by outcome: applied, stale (older than the session, refused) or ignored (a position report from a device that does not lead)',
    labelNames: ['outcome'] as const,
    registers: [registry],
  }),
  sessionsWritten: new Counter({
    name: 'airwave_playback_sessions_written_total',
    help: 'Session rows written to the database',
    registers: [registry],
  }),
  writesPending: new Gauge({
    name: 'airwave_playback_writes_pending',
    help: 'Sessions waiting to be written',
    registers: [registry],
  }),
  writesDropped: new Counter({
    name: 'airwave_playback_writes_dropped_total',
    help: 'Unwritten sessions dropped because the write queue was full (the database was down too long)',
    registers: [registry],
  }),
}
