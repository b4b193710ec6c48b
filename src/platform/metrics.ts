import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client'

/** The process-wide Prometheus registry served at /metrics. Features add their metrics here. */
export const registry = new Registry()
collectDefaultMetrics({ register: registry, prefix: 'airwave_' })

/** Live values read at scrape time; the services that own them register their readers here. */
export const gaugeSources: {
  actorsByKind?: () => Map<string, number>
  transitionRatesByKind?: () => Map<string, number>
  sseStreams?: () => number
} = {}

function mapGauge(name: string, help: string, read: () => Map<string, number> | undefined) {
  return new Gauge({
    name,
    help,
    labelNames: ['kind'] as const,
    registers: [registry],
    collect() {
      this.reset()
      for (const [kind, value] of read() ?? []) this.set({ kind }, value)
    },
  })
}

mapGauge('airwave_actors', 'Live actors, by kind', () => gaugeSources.actorsByKind?.())
mapGauge(
  'airwave_actor_transitions_per_second',
  'Actor transitions per second over the last second, by kind',
  () => gaugeSources.transitionRatesByKind?.(),
)
new Gauge({
  name: 'airwave_sse_streams',
  help: 'Open SSE streams (radio listeners and inspector feeds)',
  registers: [registry],
  collect() {
    this.set(gaugeSources.sseStreams?.() ?? 0)
  },
})

export const metrics = {
  httpRequests: new Counter({
    name: 'airwave_http_requests_total',
    help: 'HTTP requests answered, by method, route and status',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [registry],
  }),
  httpDuration: new Histogram({
    name: 'airwave_http_request_duration_seconds',
    help: 'Time to produce the response head, by method and route',
    labelNames: ['method', 'route'] as const,
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  }),
  wsConnections: new Gauge({
    name: 'airwave_ws_connections',
    help: 'Open WebSocket connections on /ws',
    registers: [registry],
  }),
  wsSlowClientsDisconnected: new Counter({
    name: 'airwave_ws_slow_clients_disconnected_total',
    help: 'WebSocket clients disconnected because their send buffer passed the limit',
    registers: [registry],
  }),
  sseSlowClientsDisconnected: new Counter({
    name: 'airwave_sse_slow_clients_disconnected_total',
    help: 'SSE clients disconnected because their unsent backlog passed the limit',
    registers: [registry],
  }),
  actorTransitions: new Counter({
    name: 'airwave_actor_transitions_total',
    help: 'Actor snapshots produced by events, by kind',
    labelNames: ['kind'] as const,
    registers: [registry],
  }),
  inspectorDroppedEvents: new Counter({
    name: 'airwave_inspector_dropped_events_total',
    help: 'Inspection events dropped because the inspector queue was full',
    registers: [registry],
  }),
  ffmpegProcesses: new Gauge({
    name: 'airwave_ffmpeg_processes',
    help: 'FFmpeg child processes running',
    registers: [registry],
  }),
  rateLimited: new Counter({
    name: 'airwave_rate_limited_total',
    help: 'Requests refused with 429, by limiter',
    labelNames: ['limiter'] as const,
    registers: [registry],
  }),
}
