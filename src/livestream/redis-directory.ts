/**
 * Livestreams in a cluster (issue 14, point 4), on Redis:
 * - Ownership: a stream runs on the instance holding the lease `livestream:<key>` (leases.ts): the broadcaster's, which
 *   claims it at `start-stream`. Every other instance contends for the lease of every live stream it sees, so when
 *   the owner dies one of them gets it within the lease expiry and runs the stream's actor from what the owner shared,
 *   detached (no broadcaster, no FFmpeg, the grace period running): it ends `failed` for everyone, or continues when
 *   the broadcaster comes back to any instance.
 * - What the cluster knows: the owner writes each stream's record (summary, viewers, segments) to
 *   `airwave:livestream:stream:<key>` (expiring unless refreshed) and indexes it in `airwave:livestream:live`; every
 *   write is a fenced script, so a stalled old owner cannot overwrite its successor's.
 * - Control: events for a stream from other instances (viewers joining and leaving, HLS sessions, end, handover) are
 *   published on `airwave:livestream:control:<key>`, which only the owner subscribes to. Its actor counts every viewer
 *   of the cluster and reaches them through their connections' rooms (RedisRoomBroker).
 * - HLS: the owner writes the playlist and each finished segment to Redis (the newest `sharedSegments` segments, each
 *   expiring after the retention), so any instance serves them. Segments are a few hundred KB; a bounded window
 *   keeps Redis's memory bounded per stream (about `sharedSegments` × segment size).
 * - Redis unreachable: an instance runs its streams alone and serves them from its disk; when Redis is back the lease
 *   is taken again and everything is shared anew.
 */
import type Redis from 'ioredis'
import type { Lease, Leases } from '../cluster/leases.ts'
import type { RedisLink } from '../cluster/redis-link.ts'
import { log } from '../platform/log.ts'
import type { LivestreamDirectory, LivestreamNode, RemoteControl, SharedStream } from './directory.ts'
import type { HlsSegment } from './playlist.ts'

const PREFIX = 'airwave:livestream:'
const LIVE_KEY = `${PREFIX}live`
const CONTROL_PREFIX = `${PREFIX}control:`
const NO_KEY = `${PREFIX}none`
const recordKey = (streamKey: string) => `${PREFIX}stream:${streamKey}`
const initKey = (streamKey: string) => `${PREFIX}init:${streamKey}`
const playlistKey = (streamKey: string) => `${PREFIX}playlist:${streamKey}`
const segmentKey = (streamKey: string, n: number) => `${PREFIX}segment:${streamKey}:${n}`
const leaseName = (streamKey: string) => `livestream:${streamKey}`

/** A record not refreshed for this long is gone (its owner died and nobody took the stream over). */
export const RECORD_TTL_MS = 10_000
/** The owner refreshes its records this often, changed or not. */
const REFRESH_MS = 2_000
/** Changes of a stream are written at most this often (an actor changes with every media chunk). */
const FLUSH_MS = 100
/** How often an instance looks for live streams of others (to contend for their leases). */
const WATCH_MS = 500
/** How long a claim waits for Redis's answer before the instance goes ahead on its own. */
const CLAIM_TIMEOUT_MS = 2_000

/** KEYS: lease, record, live index. ARGV: lease value, record JSON, TTL, stream key, score. */
const UPDATE = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
redis.call('ZADD', KEYS[3], ARGV[5], ARGV[4])
return 1`

/** KEYS: lease, key. ARGV: lease value, bytes, TTL. */
const PUT = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
return 1`

/** KEYS: lease, segment, segment leaving the window, playlist. ARGV: lease value, bytes ('' none), TTL, playlist. */
const SEGMENT = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[2] ~= '' then redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3]) end
redis.call('DEL', KEYS[3])
redis.call('SET', KEYS[4], ARGV[4], 'PX', ARGV[3])
return 1`

/** KEYS: lease, record, live index. ARGV: lease value, stream key. */
const FINISH = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[2])
redis.call('ZREM', KEYS[3], ARGV[2])
return 1`

export interface RedisDirectoryOptions {
  instanceId: string
  link: RedisLink
  leases: Leases
  /** Segments of a stream kept in Redis (the newest ones). */
  sharedSegments: number
  /** How long a playlist, segment or init segment stays in Redis after it was written. */
  retentionMs: number
}

/** This instance's part in one stream's lease. */
interface Contention {
  stop: () => Promise<void>
  lease: Lease | null
  /** The service runs the stream here. */
  runs: boolean
  /** A claim waiting for its first answer from Redis. */
  claiming?: (won: boolean) => void
}

export class RedisLivestreamDirectory implements LivestreamDirectory {
  readonly shared = true
  readonly instanceId: string
  private node: LivestreamNode | undefined
  private readonly contentions = new Map<string, Contention>()
  private readonly latest = new Map<string, SharedStream>()
  private readonly dirty = new Set<string>()
  private flushTimer: ReturnType<typeof setTimeout> | undefined
  private readonly timers: Array<ReturnType<typeof setInterval>> = []
  private readonly subscriber: Redis
  private closed = false

  constructor(private readonly options: RedisDirectoryOptions) {
    this.instanceId = options.instanceId
    this.subscriber = options.link.subscriber
  }

  private get redis(): Redis {
    return this.options.link.commands
  }

  start(node: LivestreamNode): void {
    this.node = node
    this.subscriber.on('message', (channel: string, payload: string) => {
      if (!channel.startsWith(CONTROL_PREFIX)) return
      const streamKey = channel.slice(CONTROL_PREFIX.length)
      if (!this.contentions.get(streamKey)?.runs) return
      try {
        node.control(streamKey, JSON.parse(payload) as RemoteControl)
      } catch (err) {
        log.warn({ err, streamKey }, 'bad livestream control message')
      }
    })
    // After a reconnection, the control channels of the streams run here are subscribed again.
    this.subscriber.on('ready', () => {
      const channels = [...this.contentions].filter(([, c]) => c.runs).map(([key]) => CONTROL_PREFIX + key)
      if (channels.length > 0) this.subscriber.subscribe(...channels).catch(() => {})
    })
    this.timers.push(
      setInterval(() => void this.watch(), WATCH_MS),
      setInterval(() => {
        for (const [key, c] of this.contentions) if (c.runs && this.latest.has(key)) this.dirty.add(key)
        this.flushSoon()
      }, REFRESH_MS),
    )
  }

  async claim(streamKey: string): Promise<boolean> {
    const existing = this.contentions.get(streamKey)
    if (existing) {
      // Contended as another's stream: this instance may hold the lease only in the moment before it adopts it.
      if (!existing.lease || existing.runs) return false
      this.runHere(streamKey, existing)
      return true
    }
    return new Promise<boolean>((resolve) => {
      let answered = false
      const answer = (won: boolean) => {
        if (answered) return
        answered = true
        clearTimeout(timeout)
        contention.claiming = undefined
        if (won) this.runHere(streamKey, contention)
        else {
          this.contentions.delete(streamKey)
          void contention.stop()
        }
        resolve(won)
      }
      // Redis unreachable: the instance runs the stream on its own, and takes the lease when Redis is back.
      const timeout = setTimeout(() => answer(true), CLAIM_TIMEOUT_MS)
      const contention = this.contend(streamKey)
      contention.claiming = answer
      if (!this.options.link.reachable) answer(true)
    })
  }

  update(streamKey: string, stream: SharedStream): void {
    this.latest.set(streamKey, stream)
    this.dirty.add(streamKey)
    this.flushSoon()
  }

  async shareInit(streamKey: string, init: Uint8Array): Promise<void> {
    await this.fenced(streamKey, PUT, [initKey(streamKey)], [Buffer.from(init), this.options.retentionMs])
  }

  async shareSegment(
    streamKey: string,
    segment: HlsSegment | null,
    bytes: Uint8Array | null,
    playlist: string,
  ): Promise<void> {
    const window = this.options.sharedSegments
    await this.fenced(
      streamKey,
      SEGMENT,
      [
        segment && bytes ? segmentKey(streamKey, segment.number) : NO_KEY,
        segment && segment.number >= window ? segmentKey(streamKey, segment.number - window) : NO_KEY,
        playlistKey(streamKey),
      ],
      [segment && bytes ? Buffer.from(bytes) : '', this.options.retentionMs, playlist],
    )
  }

  async finish(streamKey: string): Promise<void> {
    this.latest.delete(streamKey)
    this.dirty.delete(streamKey)
    await this.fenced(streamKey, FINISH, [recordKey(streamKey), LIVE_KEY], [streamKey])
    await this.release(streamKey)
  }

  async release(streamKey: string): Promise<void> {
    await this.flush(streamKey)
    this.latest.delete(streamKey)
    const contention = this.contentions.get(streamKey)
    if (!contention) return
    this.contentions.delete(streamKey)
    this.subscriber.unsubscribe(CONTROL_PREFIX + streamKey).catch(() => {})
    contention.runs = false
    await contention.stop()
  }

  async send(streamKey: string, event: RemoteControl): Promise<boolean> {
    if (!this.options.link.reachable) return false
    try {
      return (await this.redis.publish(CONTROL_PREFIX + streamKey, JSON.stringify(event))) > 0
    } catch {
      return false
    }
  }

  async list(): Promise<SharedStream[]> {
    if (!this.options.link.reachable) return []
    try {
      const keys = await this.redis.zrange(LIVE_KEY, '0', '-1')
      if (keys.length === 0) return []
      const values = await this.redis.mget(...keys.map(recordKey))
      const out: SharedStream[] = []
      const gone: string[] = []
      values.forEach((value, i) => {
        if (value) out.push(JSON.parse(value) as SharedStream)
        else gone.push(keys[i] as string)
      })
      // Streams whose owner died with nobody to take them over (their records expired).
      if (gone.length > 0) this.redis.zrem(LIVE_KEY, ...gone).catch(() => {})
      return out
    } catch {
      return []
    }
  }

  async find(streamKey: string): Promise<SharedStream | undefined> {
    if (!this.options.link.reachable) return undefined
    try {
      const value = await this.redis.get(recordKey(streamKey))
      return value ? (JSON.parse(value) as SharedStream) : undefined
    } catch {
      return undefined
    }
  }

  async playlist(streamKey: string): Promise<string | null> {
    if (!this.options.link.reachable) return null
    return this.redis.get(playlistKey(streamKey)).catch(() => null)
  }

  async segment(streamKey: string, number: number): Promise<Uint8Array | null> {
    if (!this.options.link.reachable) return null
    const bytes = await this.redis.getBuffer(segmentKey(streamKey, number)).catch(() => null)
    return bytes ? new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength) : null
  }

  async close(): Promise<void> {
    this.closed = true
    for (const timer of this.timers) clearInterval(timer)
    clearTimeout(this.flushTimer)
    await Promise.all([...this.contentions.keys()].map((key) => this.release(key)))
  }

  private started(): LivestreamNode {
    if (!this.node) throw new Error('the livestream directory was not started')
    return this.node
  }

  private runHere(streamKey: string, contention: Contention): void {
    contention.runs = true
    this.subscriber.subscribe(CONTROL_PREFIX + streamKey).catch(() => {})
  }

  /** Contends for a stream's lease: as its owner (claimed here) or as a possible successor. */
  private contend(streamKey: string): Contention {
    const contention: Contention = { stop: async () => {}, lease: null, runs: false }
    this.contentions.set(streamKey, contention)
    contention.stop = this.options.leases.contend(leaseName(streamKey), {
      acquired: (lease) => {
        contention.lease = lease
        if (contention.claiming) contention.claiming(true)
        else if (contention.runs) {
          // Held again after Redis was unreachable: what Redis has may be gone or old.
          log.info({ streamKey, token: lease.token }, 'livestream lease taken again')
          this.dirty.add(streamKey)
          this.flushSoon()
          this.started().reshare(streamKey)
        } else void this.adopt(streamKey, contention, lease, Date.now() - this.options.leases.timing.ttlMs)
      },
      lost: (lease) => {
        if (contention.lease === lease) contention.lease = null
        // Reachable Redis means another instance holds it; unreachable, this instance carries on alone meanwhile.
        if (contention.runs && this.options.link.reachable) void this.giveUp(streamKey, contention)
      },
      refused: () => {
        if (contention.claiming) contention.claiming(false)
        else if (contention.runs && !contention.lease) void this.giveUp(streamKey, contention)
      },
    })
    return contention
  }

  /** Another instance may own a stream this one runs: if it has taken it over (its record says so), stop here. */
  private async giveUp(streamKey: string, contention: Contention): Promise<void> {
    const record = await this.find(streamKey)
    // After a Redis restart a would-be successor can hold the lease a moment before it sees there is nothing to adopt.
    if (!record || record.owner === this.instanceId || !contention.runs || contention.lease) return
    contention.runs = false
    this.latest.delete(streamKey)
    this.dirty.delete(streamKey)
    this.subscriber.unsubscribe(CONTROL_PREFIX + streamKey).catch(() => {})
    log.warn({ streamKey, owner: record.owner }, 'livestream owned by another instance now; stopped here')
    this.started().relinquish(streamKey)
  }

  /**
   * This instance holds the lease of a stream it does not run: its owner stopped, or handed it over. `ownerLostAt`:
   * when the owner stopped renewing it, as far as can be told (the lease's expiry before it was taken).
   */
  private async adopt(
    streamKey: string,
    contention: Contention,
    lease: Lease,
    ownerLostAt: number,
  ): Promise<void> {
    try {
      const [record, init] = await Promise.all([
        this.redis.get(recordKey(streamKey)),
        this.redis.getBuffer(initKey(streamKey)),
      ])
      if (this.contentions.get(streamKey) !== contention || contention.lease !== lease) return
      if (!record) {
        // The stream ended (its owner removed it, then released the lease).
        this.contentions.delete(streamKey)
        await contention.stop()
        return
      }
      const stream = JSON.parse(record) as SharedStream
      const handover = stream.handoverTo
      if (handover && handover !== this.instanceId && Date.now() < (stream.handoverUntil ?? 0)) {
        // Handed to the broadcaster's new instance: let it take the lease.
        this.contentions.delete(streamKey)
        await contention.stop()
        return
      }
      this.runHere(streamKey, contention)
      log.info({ streamKey, from: stream.owner, token: lease.token }, 'livestream taken over')
      this.started().adopt({
        ...stream,
        init: init ? new Uint8Array(init) : null,
        ownerLostAt,
      })
    } catch (err) {
      log.warn({ err, streamKey }, 'livestream takeover failed; the lease is released for another try')
      this.contentions.delete(streamKey)
      await contention.stop()
    }
  }

  /** Contends for the leases of other instances' live streams; forgets those that ended. */
  private async watch(): Promise<void> {
    if (this.closed || !this.options.link.reachable) return
    const live = await this.list()
    const keys = new Set(live.map((s) => s.summary.streamKey))
    for (const stream of live) {
      const key = stream.summary.streamKey
      if (stream.owner !== this.instanceId && !this.contentions.has(key)) this.contend(key)
    }
    for (const [key, contention] of this.contentions) {
      if (!contention.runs && !contention.claiming && !contention.lease && !keys.has(key)) {
        this.contentions.delete(key)
        void contention.stop()
      }
    }
  }

  private flushSoon(): void {
    if (this.flushTimer) return
    this.flushTimer = setTimeout(() => {
      this.flushTimer = undefined
      for (const key of [...this.dirty]) void this.flush(key)
    }, FLUSH_MS)
  }

  private async flush(streamKey: string): Promise<void> {
    const stream = this.latest.get(streamKey)
    if (!stream || !this.dirty.delete(streamKey)) return
    await this.fenced(
      streamKey,
      UPDATE,
      [recordKey(streamKey), LIVE_KEY],
      [JSON.stringify(stream), RECORD_TTL_MS, streamKey, Date.now()],
    )
  }

  /** Runs a script that first checks this instance still holds the stream's lease; nothing without the lease. */
  private async fenced(
    streamKey: string,
    script: string,
    keys: string[],
    args: Array<string | number | Buffer>,
  ): Promise<boolean> {
    const lease = this.contentions.get(streamKey)?.lease
    if (!lease || !this.options.link.reachable) return false
    try {
      return (await this.redis.eval(script, keys.length + 1, lease.key, ...keys, lease.value, ...args)) === 1
    } catch (err) {
      log.debug({ err, streamKey }, 'livestream write to Redis failed')
      return false
    }
  }
}
