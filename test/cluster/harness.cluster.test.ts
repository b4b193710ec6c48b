/** The cluster harness itself: three instances on shared PostgreSQL, Redis and S3, behind nginx, see each other. */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { skipClusterTests, startCluster, type TestCluster } from '../support/cluster.ts'
import { until } from '../support/until.ts'

describe.skipIf(skipClusterTests('harness.cluster.test.ts'))('a three-instance cluster behind nginx', () => {
  let cluster: TestCluster
  beforeAll(async () => {
    cluster = await startCluster()
  }, 120_000)
  afterAll(async () => {
    await cluster?.stop()
  })

  test('every instance lists the three live instances in /health; nginx reaches each of them', async () => {
    for (let i = 0; i < cluster.size; i++) {
      const health = await until(
        () => cluster.health(i),
        (h) => h.cluster.instances.length === cluster.size,
      )
      expect(health.status).toBe('ok')
      expect(health.cluster).toMatchObject({ instanceId: cluster.ids[i], mode: 'cluster', redis: 'ok' })
      expect(health.cluster.instances.map((m) => m.id)).toEqual(cluster.ids)
    }
    const seen = new Set<string>()
    for (let n = 0; n < cluster.size * 2; n++) {
      const health = (await (await fetch(`${cluster.url}/health`)).json()) as {
        cluster: { instanceId: string }
      }
      seen.add(health.cluster.instanceId)
    }
    expect([...seen].sort()).toEqual(cluster.ids)
  })

  test('an instance killed with SIGKILL leaves the list; restarted, it is back under the same id', async () => {
    await cluster.kill(2)
    // Gone after the membership timeout (no goodbye from a killed process).
    await until(
      () => cluster.health(0),
      (h) => h.cluster.instances.length === 2,
    )
    await cluster.restart(2)
    const health = await until(
      () => cluster.health(2),
      (h) => h.cluster.instances.length === 3,
    )
    expect(health.cluster.instanceId).toBe(cluster.ids[2] as string)
  })
})
