import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client'

/** The process-wide Prometheus registry served at /metrics. Features add their metrics here. */
export const registry = new Registry()
collectDefaultMetrics({ register: registry, prefix: 'airwave_' })

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
  rateLimited: new Counter({
    name: 'airwave_rate_limited_total',
    help: 'Requests refused with 429, by limiter',
    labelNames: ['limiter'] as const,
    registers: [registry],
  }),
}
