import { afterAll, afterEach, beforeAll, describe, expect, test } from 'bun:test'
import type { PlaybackSession } from '../../actors/playback.machine.ts'
import type { InstanceInfo, Membership } from '../../src/cluster/membership.ts'
import { RedisLink } from '../../src/cluster/redis-link.ts'
import { RedisSessionSync } from '../../src/playback/redis-session-sync.ts'
import { type PrivateRedis, redisServerAvailable, startPrivateRedis } from '../support/redis.ts'
import { until } from '../support/until.ts'

const T0 = Date.UTC(2026, 0, 3, 13, 15, 0)
const session = (fields: Partial<PlaybackSession> = {}): PlaybackSession => ({
  trackId: 'song-a',
  position: 10,
  duration: 240,
  playing: true,
  updatedAt: T0,
  deviceId: 'phone',
  ...fields,
})

describe.skipIf(!redisServerAvailable())('RedisSessionSync', () => {
  let redis: PrivateRedis
  const links: RedisLink[] = []
  const syncs: RedisSessionSync[] = []
  /** Who the membership says is alive. */
  let alive: string[] = []
  const membership = (instanceId: string): Membership => ({
    instanceId,
    instances: async (): Promise<InstanceInfo[]> => alive.map((id) => ({ id, lastSeenMs: 0 })),
    urlOf: async () => undefined,
    stop: async () => {},
  })
  /** One instance: its sync, what others shared with it, and what it wrote to "the database". */
  const instance = async (instanceId: string) => {
    const link = new RedisLink(redis.url)
    links.push(link)
    const written: Array<{ userId: string; session: PlaybackSession }> = []
    const remote: Array<{ userId: string; session: PlaybackSession }> = []
    const sync = new RedisSessionSync({
      instanceId,
      link,
      membership: membership(instanceId),
      persist: async (sessions) => {
        written.push(...sessions)
      },
    })
    syncs.push(sync)
    sync.onRemoteChange((userId, shared) => remote.push({ userId, session: shared }))
    await until(
      () => link.reachable && link.subscriber.status === 'ready',
      (ready) => ready,
    )
    await sync.start()
    return { sync, link, written, remote }
  }

  beforeAll(async () => {
    redis = await startPrivateRedis()
  })
  // Each test's instances stop looking for departed ones when it ends, so they never save the next test's.
  afterEach(async () => {
    for (const sync of syncs.splice(0)) await sync.close(false)
  })
  afterAll(async () => {
    for (const link of links) link.close()
    await redis.stop()
  })

  test('a shared change reaches the other instances and is what they restore; an older one loses to it', async () => {
    alive = ['a', 'b']
    const [a, b] = [await instance('a'), await instance('b')]
    await until(
      async () => (await a.link.commands.pubsub('NUMSUB', 'airwave:playback:sync'))[1] as number,
      (n) => n >= 2,
    )
    const newest = session({ position: 30, updatedAt: T0 + 1000, deviceId: 'laptop' })
    expect(await a.sync.share('alice', newest)).toBeUndefined()
    await until(
      () => b.remote.length,
      (n) => n === 1,
    )
    expect(b.remote).toEqual([{ userId: 'alice', session: newest }])
    expect(a.remote).toEqual([])
    expect(await b.sync.latest('alice')).toEqual(newest)

    // b had not heard yet and accepted an older change: the cluster answers with the newer one.
    expect(await b.sync.share('alice', session({ updatedAt: T0 }))).toEqual(newest)
    // The same millisecond: the greater device wins, on every instance alike.
    expect(await b.sync.share('alice', session({ updatedAt: T0 + 1000, deviceId: 'alpha' }))).toEqual(newest)
    const tablet = session({ updatedAt: T0 + 1000, deviceId: 'tablet' })
    expect(await b.sync.share('alice', tablet)).toBeUndefined()
    expect(await a.sync.latest('alice')).toEqual(tablet)
  })

  test("a departed instance's sessions are written by a survivor: the ones still its own, once", async () => {
    alive = ['doomed', 'survivor']
    const [doomed, survivor] = [await instance('doomed'), await instance('survivor')]
    await doomed.sync.share('kim', session({ position: 42, playing: false }))
    await doomed.sync.share('lee', session({ position: 7 }))
    // lee changed since on the survivor: that newer session is the survivor's to write, not the doomed one's.
    await survivor.sync.share('lee', session({ position: 8, updatedAt: T0 + 5 }))
    alive = ['survivor']
    await until(
      () => survivor.written.length,
      (n) => n > 0,
    )
    expect(survivor.written).toEqual([{ userId: 'kim', session: session({ position: 42, playing: false }) }])
    // Written once: the doomed instance's notes are gone.
    await until(
      async () => await survivor.link.commands.sismember('airwave:playback:origins', 'doomed'),
      (member) => member === 0,
    )
    expect(await survivor.link.commands.exists('airwave:playback:origin:doomed')).toBe(0)
  }, 20_000)

  test('an instance restarted under the same id writes what its previous run left, before it serves', async () => {
    alive = ['phoenix']
    const first = await instance('phoenix')
    await first.sync.share('max', session({ position: 99 }))
    // Killed: no close. The same INSTANCE_ID starts again (alive all along, so nobody else saves it).
    const again = await instance('phoenix')
    expect(again.written).toEqual([{ userId: 'max', session: session({ position: 99 }) }])
  })

  test('a clean shutdown with everything saved leaves nothing for the others', async () => {
    alive = ['tidy']
    const tidy = await instance('tidy')
    await tidy.sync.share('ned', session())
    await tidy.sync.close(true)
    expect(await tidy.link.commands.sismember('airwave:playback:origins', 'tidy')).toBe(0)
    expect(await tidy.link.commands.exists('airwave:playback:origin:tidy')).toBe(0)
  })
})
