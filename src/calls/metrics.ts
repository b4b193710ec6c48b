import { Counter, Gauge } from 'prom-client'
import { registry } from '../platform/metrics.ts'

/** Scanner call metrics, served at /metrics. */
export const callMetrics = {
  imported: new Counter({
    name: 'airwave_calls_imported_total',
    help: 'Scanner call uploads, by outcome (imported, duplicate)',
    labelNames: ['outcome'] as const,
    registers: [registry],
  }),
  refusedBusy: new Counter({
    name: 'airwave_calls_refused_busy_total',
    help: 'Scanner call uploads refused with 503 because CALL_QUEUE_MAX calls were already waiting',
    registers: [registry],
  }),
  transcodes: new Counter({
    name: 'airwave_calls_transcodes_total',
    help: 'Scanner call transcodes, by path (native: in the addon; ffmpeg) and reason (the source codec for native; for ffmpeg, why the addon left it: UNSUPPORTED_AUDIO, UNDECODABLE_AUDIO, INTERNAL, or configured)',
    labelNames: ['path', 'reason'] as const,
    registers: [registry],
  }),
  transcodesWaiting: new Gauge({
    name: 'airwave_calls_transcodes_waiting',
    help: 'Scanner calls waiting for a transcode slot',
    registers: [registry],
  }),
}
