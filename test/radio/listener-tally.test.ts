import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { MEMBER_TIMEOUT_MS, RedisMembership } from '../../src/cluster/membership.ts'
import { RedisLink } from '../../src/cluster/redis-link.ts'
import {
  type ChannelListeners,
  LocalListenerTally,
  RedisListenerTally,
} from '../../src/radio/listener-tally.ts'
import { type PrivateRedis, redisServerAvailable, startPrivateRedis } from '../support/redis.ts'
import { until } from '../support/until.ts'

const slots = (one: number, two: number): ChannelListeners[] => [
  { slot: 1, listeners: one },
  { slot: 2, listeners: two },
]

test('alone, the counts are the instance’s own', async () => {
  const tally = new LocalListenerTally()
  tally.share(() => slots(9, 9))
  const own = [...slots(2, 0), { system: 7, listeners: 1 }]
  expect(await tally.total(own)).toEqual(own)
})

describe.skipIf(!redisServerAvailable())('across instances (Redis)', () => {
  let redis: PrivateRedis
  const links: RedisLink[] = []
  const memberships: RedisMembership[] = []
  const tallies: RedisListenerTally[] = []
  /** What instance `i` has open right now. */
  const own: ChannelListeners[][] = [slots(2, 0), [...slots(0, 1), { system: 7, listeners: 4 }], slots(1, 1)]

  beforeAll(async () => {
    redis = await startPrivateRedis()
    for (let i = 0; i < 3; i++) {
      const link = new RedisLink(redis.url)
      while (!link.reachable) await Bun.sleep(10)
      const membership = new RedisMembership(`tally-${i}`, link)
      const tally = new RedisListenerTally(link, membership)
      tally.share(() => own[i] as ChannelListeners[])
      links.push(link)
      memberships.push(membership)
      tallies.push(tally)
    }
  })
  afterAll(async () => {
    for (const tally of tallies) await tally.close()
    for (const membership of memberships) await membership.stop()
    for (const link of links) link.close()
    await redis.stop()
  })

  test('every instance sums the live instances’ counts with its own current ones', async () => {
    const expected = [...slots(3, 2), { system: 7, listeners: 4 }]
    for (let i = 0; i < 3; i++) {
      await until(
        () => (tallies[i] as RedisListenerTally).total(own[i] as ChannelListeners[]),
        (total) => JSON.stringify(total) === JSON.stringify(expected),
      )
    }
    // Its own count is read as it is now, not as of its last heartbeat.
    const total = await (tallies[0] as RedisListenerTally).total(slots(5, 0))
    expect(total.find((c) => 'slot' in c && c.slot === 1)?.listeners).toBe(6)
  })

  test('an instance that stops is no longer counted; one that dies drops out within the membership timeout', async () => {
    await (tallies[2] as RedisListenerTally).close()
    await (memberships[2] as RedisMembership).stop()
    expect(await (tallies[0] as RedisListenerTally).total(own[0] as ChannelListeners[])).toEqual([
      ...slots(2, 1),
      { system: 7, listeners: 4 },
    ])
    // Instance 1 "dies": its link is gone, so its heartbeats and writes stop reaching Redis; its hash expires with
    // the membership's timeout.
    ;(links[1] as RedisLink).close()
    const started = Date.now()
    await until(
      () => (tallies[0] as RedisListenerTally).total(own[0] as ChannelListeners[]),
      (total) => JSON.stringify(total) === JSON.stringify(slots(2, 0)),
      MEMBER_TIMEOUT_MS + 2_000,
    )
    expect(Date.now() - started).toBeLessThan(MEMBER_TIMEOUT_MS + 2_000)
  })

  test('with Redis unreachable an instance answers its own counts', async () => {
    await redis.kill()
    const mine = [...slots(4, 0), { system: 9, listeners: 1 }]
    expect(await (tallies[0] as RedisListenerTally).total(mine)).toEqual(mine)
    await redis.restart()
  })
})
