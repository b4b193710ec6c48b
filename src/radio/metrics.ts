import { Counter, Gauge } from 'prom-client'
import { registry } from '../platform/metrics.ts'

/** Live radio metrics, served at /metrics. */
export const radioMetrics = {
  listeners: new Gauge({
    name: 'airwave_radio_listeners',
    help: 'Open SSE listeners, by slot',
    labelNames: ['slot'] as const,
    registers: [registry],
  }),
  chunksReceived: new Counter({
    name: 'airwave_radio_chunks_received_total',
    help: 'Chunks accepted by ingest, by slot and outcome (delivered, held, duplicate)',
    labelNames: ['slot', 'outcome'] as const,
    registers: [registry],
  }),
  chunksBroadcast: new Counter({
    name: 'airwave_radio_chunks_broadcast_total',
    help: 'audio_chunk events fanned out, by slot',
    labelNames: ['slot'] as const,
    registers: [registry],
  }),
  slowListenersDisconnected: new Counter({
    name: 'airwave_radio_slow_listeners_disconnected_total',
    help: 'SSE listeners cut off because their unsent backlog passed the limit',
    registers: [registry],
  }),
  historyPending: new Gauge({
    name: 'airwave_radio_history_pending',
    help: 'Ended transmissions waiting to be written to the database and blob storage',
    registers: [registry],
  }),
  historyDropped: new Counter({
    name: 'airwave_radio_history_dropped_total',
    help: 'Ended transmissions dropped because the retry queue was full',
    registers: [registry],
  }),
}
