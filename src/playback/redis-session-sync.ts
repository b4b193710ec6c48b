/**
 * Playback sessions shared through Redis. Every change an instance accepts is, in one script:
 * - kept as the user's newest session (`airwave:playback:session:<userId>`, unless a newer one is already there:
 *   the script then answers with that one, and the change lost to it);
 * - published on `airwave:playback:sync`, so the other instances' actors of that user take it;
 * - noted under the instance that made it (`airwave:playback:origin:<instanceId>`).
 * The change is acknowledged to the client only after that, so a change acknowledged survives the death of its
 * instance: the session in Redis is what every other instance restores, and the instance's database writes (queued
 * and throttled in memory, src/playback/store.ts) are done by a survivor, which writes the sessions noted under an
 * instance that left the cluster (or by the instance itself when it starts again under the same INSTANCE_ID).
 */
import type Redis from 'ioredis'
import { Counter } from 'prom-client'
import type { PlaybackSession } from '../../actors/playback.machine.ts'
import type { Membership } from '../cluster/membership.ts'
import type { RedisLink } from '../cluster/redis-link.ts'
import { log } from '../platform/log.ts'
import { registry } from '../platform/metrics.ts'
import type { SessionSync } from './session-sync.ts'

/** How long a shared session stays in Redis after its last change; the database has it long before. */
export const SNAPSHOT_TTL_MS = 60 * 60_000
/** How often an instance looks for sessions left unsaved by instances that left the cluster. */
export const ORPHAN_SWEEP_MS = 2000
/** Sessions written per database statement when saving an instance's orphans. */
const ORPHAN_BATCH = 500
const SYNC_CHANNEL = 'airwave:playback:sync'
const ORIGINS_KEY = 'airwave:playback:origins'
/** Warnings about an unreachable Redis, at most one per this long. */
const WARN_EVERY_MS = 10_000

const sessionKey = (userId: string) => `airwave:playback:session:${userId}`
const originKey = (instanceId: string) => `airwave:playback:origin:${instanceId}`
const sweepLockKey = (instanceId: string) => `airwave:playback:sweeping:${instanceId}`

const shares = new Counter({
  name: 'airwave_playback_cluster_shares_total',
  help: 'Accepted playback changes shared with the cluster, by result: shared, superseded (a newer change from another instance won), unshared (Redis unreachable: this instance alone has it)',
  labelNames: ['result'] as const,
  registers: [registry],
})
const orphansSaved = new Counter({
  name: 'airwave_playback_orphans_saved_total',
  help: 'Sessions written to the database for an instance that left the cluster before writing them',
  registers: [registry],
})

/** Keeps the newest session (as isNewerSession decides), notes its origin and tells the other instances. */
const SHARE = `
local current = redis.call('HMGET', KEYS[1], 'at', 'device', 'json')
if current[1] then
  local at = tonumber(current[1])
  local newAt = tonumber(ARGV[2])
  if at > newAt or (at == newAt and current[2] > ARGV[3]) then return current[3] end
end
redis.call('HSET', KEYS[1], 'at', ARGV[2], 'device', ARGV[3], 'json', ARGV[1], 'origin', ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
local now = redis.call('TIME')
local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
redis.call('ZADD', KEYS[2], ms, ARGV[6])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ms - tonumber(ARGV[5]))
redis.call('SADD', KEYS[3], ARGV[4])
redis.call('PUBLISH', ARGV[7], ARGV[4] .. '\\n' .. ARGV[6] .. '\\n' .. ARGV[1])
return false`

/** Forgets an origin whose noted sessions are all saved. */
const FORGET_ORIGIN = `
if redis.call('ZCARD', KEYS[1]) == 0 then redis.call('SREM', KEYS[2], ARGV[1]) end
return 0`

const RELEASE_LOCK = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`

export interface RedisSessionSyncOptions {
  instanceId: string
  link: RedisLink
  /** Who is alive: the sessions of an instance that is not are saved by the others. */
  membership: Membership
  /** Writes sessions to the database now (newest `updated_at` wins there too); rejects when it cannot. */
  persist(sessions: Array<{ userId: string; session: PlaybackSession }>): Promise<void>
}

export class RedisSessionSync implements SessionSync {
  private readonly subscriber: Redis
  private readonly remoteHandlers: Array<(userId: string, session: PlaybackSession) => void> = []
  private readonly reconnectHandlers: Array<() => void> = []
  private readonly sweeper: ReturnType<typeof setInterval>
  /** The subscriber lost its connection since it was last ready. */
  private disconnected = false
  private sweeping = false
  private lastWarned = 0

  constructor(private readonly options: RedisSessionSyncOptions) {
    // The rooms' connection too: a session reaches the other instances' actors before its announcement reaches
    // their devices (published in that order, received in that order).
    this.subscriber = options.link.subscriber
    this.subscriber.on('message', (channel: string, payload: string) => {
      if (channel === SYNC_CHANNEL) this.received(payload)
    })
    this.subscriber.on('ready', () => {
      this.subscriber.subscribe(SYNC_CHANNEL).catch(() => {})
      if (!this.disconnected) return
      this.disconnected = false
      // Sharing needs the command connection, which may come back after this one.
      const { commands } = options.link
      const reconnected = () => {
        for (const handle of this.reconnectHandlers) handle()
      }
      if (options.link.reachable) reconnected()
      else commands.once('ready', reconnected)
    })
    this.subscriber.on('close', () => {
      this.disconnected = true
    })
    // The connection is shared: it may be up already.
    if (this.subscriber.status === 'ready') this.subscriber.subscribe(SYNC_CHANNEL).catch(() => {})
    this.sweeper = setInterval(() => void this.sweep(), ORPHAN_SWEEP_MS)
  }

  /** What this instance's previous run (same INSTANCE_ID) left unsaved, saved before it serves. */
  async start(): Promise<void> {
    await this.saveOrphans(this.options.instanceId).catch((err) =>
      log.warn({ err }, 'could not save the sessions the previous run left unsaved; other instances will'),
    )
  }

  async share(userId: string, session: PlaybackSession): Promise<PlaybackSession | undefined> {
    const { instanceId, link } = this.options
    try {
      const newer = (await link.commands.eval(
        SHARE,
        3,
        sessionKey(userId),
        originKey(instanceId),
        ORIGINS_KEY,
        JSON.stringify(session),
        session.updatedAt,
        session.deviceId,
        instanceId,
        SNAPSHOT_TTL_MS,
        userId,
        SYNC_CHANNEL,
      )) as string | null
      shares.inc({ result: newer ? 'superseded' : 'shared' })
      return newer ? (JSON.parse(newer) as PlaybackSession) : undefined
    } catch (err) {
      shares.inc({ result: 'unshared' })
      this.warn(
        err,
        'playback change not shared with the cluster (Redis unreachable): it stands on this instance',
      )
      return undefined
    }
  }

  async latest(userId: string): Promise<PlaybackSession | undefined> {
    try {
      const json = await this.options.link.commands.hget(sessionKey(userId), 'json')
      return json ? (JSON.parse(json) as PlaybackSession) : undefined
    } catch (err) {
      this.warn(err, 'playback session restored without the cluster (Redis unreachable)')
      return undefined
    }
  }

  onRemoteChange(handle: (userId: string, session: PlaybackSession) => void): void {
    this.remoteHandlers.push(handle)
  }

  onReconnect(handle: () => void): void {
    this.reconnectHandlers.push(handle)
  }

  async close(allSaved: boolean): Promise<void> {
    clearInterval(this.sweeper)
    if (!allSaved) return
    // Everything this instance shared is in the database: nobody needs to save it after it leaves.
    const { instanceId, link } = this.options
    await link.commands
      .multi()
      .del(originKey(instanceId))
      .srem(ORIGINS_KEY, instanceId)
      .exec()
      .catch(() => {})
  }

  private received(payload: string): void {
    const first = payload.indexOf('\n')
    const second = payload.indexOf('\n', first + 1)
    if (first < 0 || second < 0 || payload.slice(0, first) === this.options.instanceId) return
    const userId = payload.slice(first + 1, second)
    let session: PlaybackSession
    try {
      session = JSON.parse(payload.slice(second + 1)) as PlaybackSession
    } catch {
      return
    }
    for (const handle of this.remoteHandlers) handle(userId, session)
  }

  /** Saves the sessions of every instance that is in the origins but no longer alive. */
  private async sweep(): Promise<void> {
    if (this.sweeping || !this.options.link.reachable) return
    this.sweeping = true
    try {
      const [origins, alive] = await Promise.all([
        this.options.link.commands.smembers(ORIGINS_KEY),
        this.options.membership.instances(),
      ])
      const live = new Set(alive.map((instance) => instance.id))
      for (const origin of origins) {
        if (origin !== this.options.instanceId && !live.has(origin)) await this.saveOrphans(origin)
      }
    } catch (err) {
      this.warn(err, 'could not look for playback sessions left unsaved by other instances')
    } finally {
      this.sweeping = false
    }
  }

  /**
   * Writes the sessions `origin` shared and that are still its (no newer change since), then forgets them. One
   * instance does it at a time (a lock); the database's newest-wins rule makes a repeated write harmless.
   */
  private async saveOrphans(origin: string): Promise<void> {
    const redis = this.options.link.commands
    const lock = `${this.options.instanceId}:${crypto.randomUUID()}`
    const locked = await redis.set(sweepLockKey(origin), lock, 'PX', 30_000, 'NX')
    if (locked !== 'OK') return
    try {
      for (;;) {
        const userIds = await redis.zrange(originKey(origin), '0', String(ORPHAN_BATCH - 1))
        if (userIds.length === 0) break
        const sessions: Array<{ userId: string; session: PlaybackSession }> = []
        const pipeline = redis.pipeline()
        for (const userId of userIds) pipeline.hmget(sessionKey(userId), 'origin', 'json')
        const replies = (await pipeline.exec()) ?? []
        userIds.forEach((userId, i) => {
          const [sessionOrigin, json] = (replies[i]?.[1] ?? []) as Array<string | null>
          if (sessionOrigin === origin && json) sessions.push({ userId, session: JSON.parse(json) })
        })
        if (sessions.length > 0) await this.options.persist(sessions)
        orphansSaved.inc(sessions.length)
        await redis.zrem(originKey(origin), ...userIds)
      }
      await redis.eval(FORGET_ORIGIN, 2, originKey(origin), ORIGINS_KEY, origin)
      if (origin !== this.options.instanceId)
        log.info({ origin }, 'saved the playback sessions of a departed instance')
    } finally {
      await redis.eval(RELEASE_LOCK, 1, sweepLockKey(origin), lock).catch(() => {})
    }
  }

  private warn(err: unknown, message: string): void {
    const now = Date.now()
    if (now - this.lastWarned < WARN_EVERY_MS) return
    this.lastWarned = now
    log.warn({ err }, message)
  }
}
