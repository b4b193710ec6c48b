/**
 * Rooms across a cluster (GUIDE principle 13): the same `RoomBroker` as LocalRoomBroker, with Redis pub/sub carrying
 * each room's messages to every instance that has members in it. One channel per room (`airwave:room:<room>`); an
 * instance subscribes, on its subscriber connection (RedisLink.subscriber), while the room has members here.
 *
 * Order: every message to a room goes through its channel, members on this instance included, so all members of a
 * room, on every instance and both transports, hear the room's messages in the one order Redis received them. The
 * only exception is a connection's own room (`connection_<id>`) when that connection is here: it has that single
 * member, who gets the message at once (messages from other instances still come through the channel, each
 * publisher's in its order).
 *
 * Without Redis (unreachable, or the subscription not back yet) the instance works on its own: members here get
 * each message at once, and it is still published, marked as delivered by its origin, for any instance that can
 * hear it. When the connection is back every room is subscribed again and routing through Redis resumes.
 */
import type Redis from 'ioredis'
import { Counter } from 'prom-client'
import type { RedisLink } from '../cluster/redis-link.ts'
import { registry } from '../platform/metrics.ts'
import { LocalRoomBroker, OutgoingMessage, type RoomBroker, type RoomMember } from './rooms.ts'

const CHANNEL_PREFIX = 'airwave:room:'
const CONNECTION_ROOM_PREFIX = 'connection_'

const roomMessages = new Counter({
  name: 'airwave_cluster_room_messages_total',
  help: 'Room messages published by this instance, by route: redis (through the room channel), direct (a connection here), local (Redis unreachable: members here only, plus whoever Redis still reaches)',
  labelNames: ['route'] as const,
  registers: [registry],
})

function channelOf(room: string): string {
  return `${CHANNEL_PREFIX}${room}`
}

export class RedisRoomBroker implements RoomBroker {
  private readonly local = new LocalRoomBroker()
  private readonly subscriber: Redis
  /** Every room with members here is subscribed (since the subscriber connection was last ready). */
  private subscribed = false

  constructor(
    private readonly instanceId: string,
    private readonly link: RedisLink,
  ) {
    this.subscriber = link.subscriber
    this.subscriber.on('message', (channel: string, payload: string) => this.received(channel, payload))
    this.subscriber.on('ready', () => void this.subscribeAll())
    this.subscriber.on('close', () => {
      this.subscribed = false
    })
    // The connection is shared: it may be up already.
    if (this.subscriber.status === 'ready') void this.subscribeAll()
  }

  join(room: string, member: RoomMember): void {
    const first = !this.local.has(room)
    this.local.join(room, member)
    if (first) this.subscribe([channelOf(room)])
  }

  leave(room: string, member: RoomMember): void {
    if (this.local.leave(room, member)) this.unsubscribe([channelOf(room)])
  }

  leaveAll(member: RoomMember): void {
    const emptied = this.local.leaveAll(member)
    if (emptied.length > 0) this.unsubscribe(emptied.map(channelOf))
  }

  publish(room: string, message: OutgoingMessage): number {
    if (room.startsWith(CONNECTION_ROOM_PREFIX) && this.local.has(room)) {
      roomMessages.inc({ route: 'direct' })
      return this.local.publish(room, message)
    }
    const redis = this.link.commands
    if (this.routesThroughRedis) {
      roomMessages.inc({ route: 'redis' })
      // An empty origin: every subscriber delivers it, this instance too.
      redis.publish(channelOf(room), `\n${message.json}`).catch(() => {
        roomMessages.inc({ route: 'local' })
        this.local.publish(room, message)
      })
      return 0
    }
    roomMessages.inc({ route: 'local' })
    const delivered = this.local.publish(room, message)
    if (this.link.reachable) {
      redis.publish(channelOf(room), `${this.instanceId}\n${message.json}`).catch(() => {})
    }
    return delivered
  }

  /** Whether messages go through Redis now: the command connection is up and every room is subscribed. */
  get routesThroughRedis(): boolean {
    return this.subscribed && this.subscriber.status === 'ready' && this.link.reachable
  }

  private received(channel: string, payload: string): void {
    if (!channel.startsWith(CHANNEL_PREFIX)) return
    const split = payload.indexOf('\n')
    // Published by this instance while it could not route through Redis: its members here have it already.
    if (split < 0 || payload.slice(0, split) === this.instanceId) return
    const room = channel.slice(CHANNEL_PREFIX.length)
    if (!this.local.has(room)) return
    this.local.publish(room, OutgoingMessage.fromJson(payload.slice(split + 1)))
  }

  private async subscribeAll(): Promise<void> {
    const channels = [...this.local.rooms()].map(channelOf)
    try {
      if (channels.length > 0) await this.subscriber.subscribe(...channels)
      this.subscribed = this.subscriber.status === 'ready'
    } catch {
      // The connection dropped again: its next `ready` tries again.
    }
  }

  private subscribe(channels: string[]): void {
    if (this.subscriber.status !== 'ready') return
    this.subscriber.subscribe(...channels).catch(() => {})
  }

  private unsubscribe(channels: string[]): void {
    if (this.subscriber.status !== 'ready') return
    this.subscriber.unsubscribe(...channels).catch(() => {})
  }
}
