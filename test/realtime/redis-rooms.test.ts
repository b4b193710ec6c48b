import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { RedisLink } from '../../src/cluster/redis-link.ts'
import { RedisRoomBroker } from '../../src/realtime/redis-rooms.ts'
import { OutgoingMessage, type RoomMember } from '../../src/realtime/rooms.ts'
import { type PrivateRedis, redisServerAvailable, startPrivateRedis } from '../support/redis.ts'
import { until } from '../support/until.ts'

/** A member that records the events it was handed, in order. */
function member(id: string) {
  const got: string[] = []
  const m: RoomMember = {
    id,
    deliver: (message) => {
      got.push(`${message.event}:${JSON.stringify(message.data)}`)
      return true
    },
  }
  return { m, got }
}

const message = (event: string, data: unknown = null) => new OutgoingMessage(event, data)

describe.skipIf(!redisServerAvailable())('RedisRoomBroker', () => {
  let redis: PrivateRedis
  const links: RedisLink[] = []
  /** One instance's broker on its own Redis connections. */
  const instance = async (id: string) => {
    const link = new RedisLink(redis.url)
    links.push(link)
    const broker = new RedisRoomBroker(id, link)
    await until(
      () => broker.routesThroughRedis,
      (ok) => ok,
    )
    return { broker, link }
  }
  /** Waits until `room` is subscribed by `count` instances. */
  const subscribers = async (link: RedisLink, room: string, count: number) => {
    await until(
      async () => (await link.commands.pubsub('NUMSUB', `airwave:room:${room}`))[1],
      (n) => n === count,
    )
  }

  beforeAll(async () => {
    redis = await startPrivateRedis()
  })
  afterAll(async () => {
    for (const link of links) link.close()
    await redis.stop()
  })

  test('a message published on one instance reaches the room members on every instance, nobody else', async () => {
    const [a, b] = [await instance('a'), await instance('b')]
    const [onA, onB, elsewhere] = [member('1'), member('2'), member('3')]
    a.broker.join('user_alice', onA.m)
    b.broker.join('user_alice', onB.m)
    b.broker.join('user_bob', elsewhere.m)
    await subscribers(a.link, 'user_alice', 2)
    // Through Redis, also for the members here: nothing is handed over synchronously.
    expect(a.broker.publish('user_alice', message('trackPlaying', { t: 1 }))).toBe(0)
    await until(
      () => onB.got.length,
      (n) => n === 1,
    )
    await until(
      () => onA.got.length,
      (n) => n === 1,
    )
    expect(onA.got).toEqual(['trackPlaying:{"t":1}'])
    expect(onB.got).toEqual(onA.got)
    expect(elsewhere.got).toEqual([])
  })

  test('concurrent publishers on three instances: every member hears the room in the same order', async () => {
    const instances = [await instance('x'), await instance('y'), await instance('z')]
    const members = instances.map(({ broker }, i) => {
      const m = member(`m${i}`)
      broker.join('room', m.m)
      return m
    })
    await subscribers(instances[0]?.link as RedisLink, 'room', 3)
    const perPublisher = 200
    for (let n = 0; n < perPublisher; n++) {
      for (const [i, { broker }] of instances.entries()) broker.publish('room', message(`p${i}`, n))
    }
    for (const m of members) {
      await until(
        () => m.got.length,
        (n) => n === perPublisher * instances.length,
      )
    }
    expect(members[1]?.got).toEqual(members[0]?.got as string[])
    expect(members[2]?.got).toEqual(members[0]?.got as string[])
    // Each publisher's own messages keep their order.
    for (let i = 0; i < instances.length; i++) {
      const own = members[0]?.got.filter((line) => line.startsWith(`p${i}:`)).map((l) => l.split(':')[1])
      expect(own).toEqual(Array.from({ length: perPublisher }, (_, n) => String(n)))
    }
  })

  test("a connection's own room: at once when it is here, through Redis from another instance", async () => {
    const [a, b] = [await instance('ca'), await instance('cb')]
    const socket = member('s1')
    a.broker.join('connection_s1', socket.m)
    await subscribers(a.link, 'connection_s1', 1)
    expect(a.broker.publish('connection_s1', message('answer'))).toBe(1)
    expect(socket.got).toEqual(['answer:null'])
    b.broker.publish('connection_s1', message('fromB'))
    await until(
      () => socket.got.length,
      (n) => n === 2,
    )
    expect(socket.got[1]).toBe('fromB:null')
  })

  test('the last member leaving unsubscribes the room; members that left hear nothing', async () => {
    const [a, b] = [await instance('la'), await instance('lb')]
    const [one, two] = [member('1'), member('2')]
    a.broker.join('r', one.m)
    a.broker.join('other', one.m)
    a.broker.join('r', two.m)
    await subscribers(b.link, 'r', 1)
    a.broker.leave('r', two.m)
    b.broker.publish('r', message('first'))
    await until(
      () => one.got.length,
      (n) => n === 1,
    )
    a.broker.leaveAll(one.m)
    await subscribers(b.link, 'r', 0)
    await subscribers(b.link, 'other', 0)
    expect(two.got).toEqual([])
  })

  test('Redis down: members here still hear their instance at once; back up, the cluster is whole again', async () => {
    const [a, b] = [await instance('oa'), await instance('ob')]
    const [onA, onB] = [member('1'), member('2')]
    a.broker.join('user_u', onA.m)
    b.broker.join('user_u', onB.m)
    await subscribers(a.link, 'user_u', 2)

    await redis.kill()
    await until(
      () => a.broker.routesThroughRedis,
      (ok) => !ok,
    )
    expect(a.broker.publish('user_u', message('during'))).toBe(1)
    expect(onA.got).toEqual(['during:null'])

    await redis.restart()
    await until(
      () => a.broker.routesThroughRedis && b.broker.routesThroughRedis,
      (ok) => ok,
    )
    // The restarted Redis is empty: the rooms were subscribed again by the brokers themselves.
    await subscribers(a.link, 'user_u', 2)
    b.broker.publish('user_u', message('after'))
    await until(
      () => onA.got.length,
      (n) => n === 2,
    )
    await until(
      () => onB.got.length,
      (n) => n === 1,
    )
    expect(onA.got).toEqual(['during:null', 'after:null'])
    expect(onB.got).toEqual(['after:null'])
  }, 30_000)
})
