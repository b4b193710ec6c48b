import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import {
  type CallClaims,
  DUPLICATE_WINDOW_MS,
  LocalCallClaims,
  RedisCallClaims,
} from '../../src/calls/claims.ts'
import { RedisLink } from '../../src/cluster/redis-link.ts'
import { type PrivateRedis, redisServerAvailable, startPrivateRedis } from '../support/redis.ts'

const T = 1_790_000_000_000

/** What both implementations must do; `other` is a second instance's view of the same claims (or the same one). */
function behaves(make: () => { mine: CallClaims; other: CallClaims }) {
  test('a call being imported makes another within ±500 ms a duplicate, on any instance, until it is released', async () => {
    const { mine, other } = make()
    const token = await mine.claim(7, 100, T)
    expect(token).not.toBeNull()
    expect(await other.claim(7, 100, T + DUPLICATE_WINDOW_MS)).toBeNull()
    expect(await other.claim(7, 100, T - DUPLICATE_WINDOW_MS)).toBeNull()
    // Outside the window, another talkgroup or another system: a call of its own.
    const later = await other.claim(7, 100, T + DUPLICATE_WINDOW_MS + 1)
    const elsewhere = await other.claim(7, 200, T)
    const otherSystem = await other.claim(8, 100, T)
    expect([later, elsewhere, otherSystem].every((t) => t !== null)).toBe(true)
    await mine.release(7, 100, token as string)
    const again = await other.claim(7, 100, T)
    expect(again).not.toBeNull()
    for (const [tg, t] of [
      [100, again],
      [100, later],
      [200, elsewhere],
    ] as const)
      await other.release(7, tg, t as string)
    await other.release(8, 100, otherSystem as string)
  })
}

describe('on one instance', () => {
  behaves(() => {
    const claims = new LocalCallClaims()
    return { mine: claims, other: claims }
  })
})

describe.skipIf(!redisServerAvailable())('across instances (Redis)', () => {
  let redis: PrivateRedis
  const links: RedisLink[] = []
  beforeAll(async () => {
    redis = await startPrivateRedis()
    for (let i = 0; i < 2; i++) links.push(new RedisLink(redis.url))
    // The links connect asynchronously; commands fail fast until then.
    for (const link of links) while (!link.reachable) await Bun.sleep(10)
  })
  afterAll(async () => {
    for (const link of links) link.close()
    await redis.stop()
  })
  behaves(() => ({
    mine: new RedisCallClaims(links[0] as RedisLink),
    other: new RedisCallClaims(links[1] as RedisLink),
  }))

  test('with Redis unreachable an instance still refuses its own duplicates', async () => {
    await redis.kill()
    const claims = new RedisCallClaims(links[0] as RedisLink)
    const token = await claims.claim(9, 1, T)
    expect(token).not.toBeNull()
    expect(await claims.claim(9, 1, T + 100)).toBeNull()
    await claims.release(9, 1, token as string)
    expect(await claims.claim(9, 1, T + 100)).not.toBeNull()
    await redis.restart()
  })
})
