import type Redis from 'ioredis'
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible'
import { RateLimitedError } from './errors.ts'
import { log } from './log.ts'
import { metrics } from './metrics.ts'

export interface RateLimitRule {
  /** Names the limiter in keys, metrics and logs, e.g. `ingest`. */
  name: string
  /** Requests allowed per window per key. */
  points: number
  windowSeconds: number
}

export interface RateLimiter {
  readonly rule: RateLimitRule
  /**
   * Counts `points` (default one request) for `key` (an IP, an API key name, a stream); throws RateLimitedError
   * (429 + Retry-After) past the rule. Byte budgets pass the byte count as `points`.
   */
  consume(key: string, points?: number): Promise<void>
}

/**
 * Makes the rate limiters features configure. In memory by default; in Redis when a client is
 * given, so instances share limits. If Redis fails, limits fall back to memory instead of failing open.
 */
export class RateLimits {
  constructor(private readonly redis?: Redis) {}

  create(rule: RateLimitRule): RateLimiter {
    const options = {
      keyPrefix: `airwave:rl:${rule.name}`,
      points: rule.points,
      duration: rule.windowSeconds,
    }
    const memory = new RateLimiterMemory(options)
    const limiter = this.redis
      ? new RateLimiterRedis({ ...options, storeClient: this.redis, insuranceLimiter: memory })
      : memory
    return {
      rule,
      async consume(key: string, points = 1) {
        try {
          await limiter.consume(key, points)
        } catch (rejection) {
          if (rejection instanceof RateLimiterRes) {
            metrics.rateLimited.inc({ limiter: rule.name })
            throw new RateLimitedError(rejection.msBeforeNext / 1000)
          }
          log.error({ err: rejection, limiter: rule.name }, 'rate limiter failed; request allowed')
        }
      },
    }
  }
}
