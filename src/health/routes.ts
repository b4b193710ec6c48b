import { Elysia } from 'elysia'
import type { ClusterStatus } from '../cluster/cluster.ts'
import { registry } from '../platform/metrics.ts'
import { type HealthCheck, runCheck } from './checks.ts'
import { memoryUsage } from './memory.ts'

/**
 * `/health` in track-streaming-service.md's shape plus `checks`; 503 when any check fails.
 * `/metrics` in Prometheus text format.
 */
export function healthRoutes(options: {
  env: string
  checks: Record<string, HealthCheck>
  /** The instance and its cluster; a degraded cluster (Redis unreachable) does not fail /health: the instance serves. */
  cluster: () => Promise<ClusterStatus>
}) {
  return new Elysia({ name: 'health' })
    .get(
      '/health',
      async ({ set }) => {
        const names = Object.keys(options.checks)
        const [results, cluster] = await Promise.all([
          Promise.all(names.map((name) => runCheck(options.checks[name] as HealthCheck))),
          options.cluster(),
        ])
        const checks = Object.fromEntries(names.map((name, i) => [name, results[i]]))
        const healthy = results.every((r) => r.status === 'ok')
        set.status = healthy ? 200 : 503
        return {
          status: healthy ? 'ok' : 'error',
          timestamp: new Date().toISOString(),
          uptime: process.uptime(),
          memoryUsage: memoryUsage(),
          env: options.env,
          checks,
          cluster,
        }
      },
      { detail: { summary: 'Service health and dependency checks', tags: ['health'] } },
    )
    .get(
      '/metrics',
      async () =>
        new Response(await registry.metrics(), { headers: { 'content-type': registry.contentType } }),
      { detail: { summary: 'Prometheus metrics', tags: ['health'] } },
    )
}
