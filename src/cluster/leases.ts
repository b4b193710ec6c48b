/**
 * Ownership by lease (GUIDE principle 14): whoever holds `airwave:lease:<name>` runs the actor for it. A lease has an
 * expiry and is renewed well inside it, so when its holder dies another instance takes over within `ttlMs` plus one
 * `retryMs`. Each grant carries a fencing token (a counter that only grows): the holder's writes check, in the same
 * Redis script, that the lease still holds its token, so a stalled old holder that wakes up cannot overwrite the new
 * one's work.
 */
import { log } from '../platform/log.ts'
import type { RedisLink } from './redis-link.ts'

export interface LeaseTiming {
  /** A lease not renewed for this long expires. */
  ttlMs: number
  /** The holder renews this often. */
  renewMs: number
  /** An instance without the lease tries to take it this often. */
  retryMs: number
}

/** Failover within 2 s (issue 14): expiry 1.2 s, and a free lease is found within 0.3 s of expiring. */
export const DEFAULT_LEASE_TIMING: LeaseTiming = { ttlMs: 1200, renewMs: 300, retryMs: 300 }

export interface Lease {
  readonly name: string
  /** The fencing token: greater than every earlier grant of this lease. */
  readonly token: number
  /** The Redis key holding the lease and the value it holds while this grant lasts (for fenced scripts). */
  readonly key: string
  readonly value: string
}

export interface LeaseHandlers {
  /** This instance holds the lease now; called again after every loss and new grant. */
  acquired(lease: Lease): void
  /** The lease is gone: it expired unrenewed (e.g. Redis unreachable) or another instance holds it. */
  lost(lease: Lease): void
  /** An attempt to take the lease found it held by another instance (Redis answered: not an outage). */
  refused?(): void
}

export interface Leases {
  /** How long a lease outlives its holder: what a successor knows of when the holder stopped. */
  readonly timing: LeaseTiming
  /** Contends for `name` until the returned function is called (which releases it if held). */
  contend(name: string, handlers: LeaseHandlers): () => Promise<void>
}

/** A single node owns everything, from the start and for good. */
export class LocalLeases implements Leases {
  readonly timing = DEFAULT_LEASE_TIMING

  contend(name: string, handlers: LeaseHandlers): () => Promise<void> {
    handlers.acquired({ name, token: 1, key: leaseKey(name), value: 'local:1' })
    return async () => {}
  }
}

export function leaseKey(name: string): string {
  return `airwave:lease:${name}`
}

const ACQUIRE = `
if redis.call('EXISTS', KEYS[1]) == 1 then return false end
local token = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1] .. ':' .. token, 'PX', ARGV[2])
return token`

const RENEW = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0`

const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`

export class RedisLeases implements Leases {
  constructor(
    private readonly instanceId: string,
    private readonly link: RedisLink,
    readonly timing: LeaseTiming = DEFAULT_LEASE_TIMING,
  ) {}

  contend(name: string, handlers: LeaseHandlers): () => Promise<void> {
    const key = leaseKey(name)
    const redis = this.link.commands
    let held: Lease | null = null
    /** Until when the lease is surely ours: the send time of the last successful grant or renewal, plus the expiry. */
    let validUntil = 0
    let stopped = false
    let timer: ReturnType<typeof setTimeout> | undefined

    const lose = () => {
      const lease = held
      held = null
      if (lease) handlers.lost(lease)
    }
    const tick = async () => {
      const sentAt = Date.now()
      try {
        if (held) {
          const renewed = await redis.eval(RENEW, 1, key, held.value, this.timing.ttlMs)
          if (renewed === 1) validUntil = sentAt + this.timing.ttlMs
          else lose()
        } else {
          const token = await redis.eval(
            ACQUIRE,
            2,
            key,
            `airwave:fence:${name}`,
            this.instanceId,
            this.timing.ttlMs,
          )
          if (typeof token === 'number' && !stopped) {
            held = { name, token, key, value: `${this.instanceId}:${token}` }
            validUntil = sentAt + this.timing.ttlMs
            handlers.acquired(held)
          } else if (!stopped) handlers.refused?.()
        }
      } catch (err) {
        // Unreachable Redis: the lease is only ours until its expiry, as for everyone else.
        if (held && Date.now() >= validUntil) {
          log.warn({ err, lease: name }, 'lease expired while Redis was unreachable')
          lose()
        }
      }
      if (!stopped) timer = setTimeout(tick, held ? this.timing.renewMs : this.timing.retryMs)
    }
    void tick()
    return async () => {
      stopped = true
      clearTimeout(timer)
      const lease = held
      if (!lease) return
      held = null
      await redis.eval(RELEASE, 1, key, lease.value).catch(() => {})
      handlers.lost(lease)
    }
  }
}
