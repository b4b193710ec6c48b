import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { type Lease, LocalLeases, RedisLeases } from '../../src/cluster/leases.ts'
import { RedisMembership } from '../../src/cluster/membership.ts'
import { RedisLink } from '../../src/cluster/redis-link.ts'
import { type PrivateRedis, redisServerAvailable, startPrivateRedis } from '../support/redis.ts'
import { until } from '../support/until.ts'

const TIMING = { ttlMs: 600, renewMs: 150, retryMs: 100 }

function recorder() {
  const events: Array<{ kind: 'acquired' | 'lost'; token: number }> = []
  return {
    events,
    handlers: {
      acquired: (lease: Lease) => events.push({ kind: 'acquired', token: lease.token }),
      lost: (lease: Lease) => events.push({ kind: 'lost', token: lease.token }),
    },
    holds: () => events.at(-1)?.kind === 'acquired',
  }
}

test('a single node holds every lease at once, for good', async () => {
  const r = recorder()
  const stop = new LocalLeases().contend('radio:slot1', r.handlers)
  expect(r.events).toEqual([{ kind: 'acquired', token: 1 }])
  await stop()
})

describe.skipIf(!redisServerAvailable())('leases in Redis', () => {
  let redis: PrivateRedis
  const links: RedisLink[] = []
  const link = () => {
    const l = new RedisLink(redis.url)
    links.push(l)
    return l
  }
  beforeAll(async () => {
    redis = await startPrivateRedis()
  })
  afterAll(async () => {
    for (const l of links) l.close()
    await redis.stop()
  })

  test('one holder at a time; when it stops renewing another takes over with a greater fencing token', async () => {
    const a = recorder()
    const b = recorder()
    const stopA = new RedisLeases('a', link(), TIMING).contend('slot', a.handlers)
    await until(() => a.holds(), Boolean)
    const stopB = new RedisLeases('b', link(), TIMING).contend('slot', b.handlers)
    await Bun.sleep(TIMING.ttlMs * 2)
    expect(b.events).toEqual([])
    const firstToken = a.events[0]?.token ?? 0
    const releasedAt = Date.now()
    await stopA()
    await until(() => b.holds(), Boolean, 5000)
    // A released lease is free at once: taken within one retry.
    expect(Date.now() - releasedAt).toBeLessThan(TIMING.retryMs * 3 + 200)
    expect(b.events[0]?.token).toBeGreaterThan(firstToken)
    await stopB()
  })

  test('a holder that dies is replaced within the expiry plus one retry', async () => {
    const dying = link()
    const a = recorder()
    new RedisLeases('a', dying, TIMING).contend('slot-2', a.handlers)
    await until(() => a.holds(), Boolean)
    const b = recorder()
    const stopB = new RedisLeases('b', link(), TIMING).contend('slot-2', b.handlers)
    const diedAt = Date.now()
    dying.close() // like kill -9: no release, no more renewals
    await until(() => b.holds(), Boolean, 5000)
    const took = Date.now() - diedAt
    expect(took).toBeLessThanOrEqual(TIMING.ttlMs + TIMING.retryMs * 2 + 200)
    await stopB()
  })

  test('membership lists live instances and forgets one that left', async () => {
    const a = new RedisMembership('inst-a', link())
    const b = new RedisMembership('inst-b', link())
    await until(
      () => a.instances().catch(() => []),
      (list) => list.length === 2,
    )
    await b.stop()
    expect((await a.instances()).map((i) => i.id)).toEqual(['inst-a'])
    await a.stop()
  })

  test('a Redis outage expires the lease; after Redis returns an instance holds it again', async () => {
    const a = recorder()
    const stopA = new RedisLeases('a', link(), TIMING).contend('outage', a.handlers)
    await until(() => a.holds(), Boolean)
    await redis.kill()
    await until(() => !a.holds(), Boolean, 5000)
    await redis.restart()
    await until(() => a.holds(), Boolean, 10_000)
    expect(a.events.map((e) => e.kind)).toEqual(['acquired', 'lost', 'acquired'])
    await stopA()
  })
})
