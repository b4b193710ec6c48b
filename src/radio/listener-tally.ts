/**
 * How many listen to each radio channel (`GET /api/v1/channels`, the dashboard's counts). Alone, an instance's own
 * listeners are all there are. In a cluster each instance writes its own counts to Redis every heartbeat (a hash that
 * expires with the membership's timeout, so a dead instance's listeners drop out on their own), and the total is this
 * instance's counts, as they are now, plus every other live instance's, as of its last heartbeat (≤ 1 s old).
 */
import { HEARTBEAT_MS, MEMBER_TIMEOUT_MS, type Membership } from '../cluster/membership.ts'
import type { RedisLink } from '../cluster/redis-link.ts'
import type { ChannelScope } from './channel.ts'

export type ChannelListeners = ChannelScope & { listeners: number }

export interface ListenerTally {
  /** Starts telling the cluster this instance's counts, read from `own` (alone: nothing to tell). */
  share(own: () => ChannelListeners[]): void
  /** Every channel with its listeners in the whole cluster, given this instance's own counts. */
  total(own: ChannelListeners[]): Promise<ChannelListeners[]>
  close(): Promise<void>
}

/** One instance: its own listeners are everyone. */
export class LocalListenerTally implements ListenerTally {
  share(_own: () => ChannelListeners[]): void {}

  async total(own: ChannelListeners[]): Promise<ChannelListeners[]> {
    return own
  }

  async close(): Promise<void> {}
}

const keyOf = (instanceId: string) => `airwave:radio:listeners:${instanceId}`
const fieldOf = (scope: ChannelScope) => ('slot' in scope ? `slot:${scope.slot}` : `system:${scope.system}`)

/** A hash field back to its channel; anything else (another version's field) is skipped. */
function scopeOf(field: string): ChannelScope | undefined {
  const match = /^(slot|system):(\d{1,10})$/.exec(field)
  if (!match) return undefined
  return match[1] === 'slot' ? { slot: Number(match[2]) } : { system: Number(match[2]) }
}

/** Slots first, then systems, each in number order: the order the single node has always answered in. */
function sorted(counts: Iterable<ChannelListeners>): ChannelListeners[] {
  const rank = (c: ChannelListeners) => ('slot' in c ? c.slot : 1e12 + c.system)
  return [...counts].sort((a, b) => rank(a) - rank(b))
}

export class RedisListenerTally implements ListenerTally {
  private timer: ReturnType<typeof setInterval> | undefined

  constructor(
    private readonly link: RedisLink,
    private readonly membership: Membership,
  ) {}

  share(own: () => ChannelListeners[]): void {
    const write = () => {
      const key = keyOf(this.membership.instanceId)
      const fields = own().flatMap((c) => [fieldOf(c), String(c.listeners)])
      const replace = this.link.commands.multi().del(key)
      if (fields.length > 0) replace.hset(key, ...fields).pexpire(key, MEMBER_TIMEOUT_MS)
      // While Redis is unreachable the write fails; the next heartbeat after it returns writes again.
      replace.exec().catch(() => {})
    }
    this.timer = setInterval(write, HEARTBEAT_MS)
    write()
  }

  async total(own: ChannelListeners[]): Promise<ChannelListeners[]> {
    const totals = new Map(own.map((c) => [fieldOf(c), { ...c }]))
    try {
      const others = (await this.membership.instances()).filter((i) => i.id !== this.membership.instanceId)
      if (others.length === 0) return sorted(totals.values())
      const pipeline = this.link.commands.pipeline()
      for (const other of others) pipeline.hgetall(keyOf(other.id))
      for (const [error, hash] of (await pipeline.exec()) ?? []) {
        if (error) continue
        for (const [field, value] of Object.entries(hash as Record<string, string>)) {
          const scope = scopeOf(field)
          const listeners = Number(value)
          if (!scope || !Number.isSafeInteger(listeners) || listeners < 0) continue
          const entry = totals.get(field) ?? { ...scope, listeners: 0 }
          entry.listeners += listeners
          totals.set(field, entry)
        }
      }
    } catch {
      // Redis unreachable: this instance's own counts, as during any outage (/health says degraded).
    }
    return sorted(totals.values())
  }

  async close(): Promise<void> {
    clearInterval(this.timer)
    await this.link.commands
      .del(keyOf(this.membership.instanceId))
      .then(() => {})
      .catch(() => {})
  }
}
