/**
 * Calls being imported, so that two uploads of one call racing each other (an uploader retrying, two recorders of the
 * same system) import it once: a claim on (system, talkgroup, start time) holds while the first one is imported, and
 * another within ±DUPLICATE_WINDOW_MS of it is a duplicate. After the import the database answers that question.
 * `LocalCallClaims` covers one instance; `RedisCallClaims` the cluster (GUIDE principle 13).
 */
import { randomUUID } from 'node:crypto'
import type { RedisLink } from '../cluster/redis-link.ts'
import { log } from '../platform/log.ts'

/** Same system and talkgroup within this many ms of each other: one call (as rdio-scanner decides). */
export const DUPLICATE_WINDOW_MS = 500
/** A claim older than this is taken as abandoned (its instance died mid-import); imports are bounded far below it. */
export const CLAIM_TTL_MS = 15 * 60_000

export interface CallClaims {
  /** A token for the claim, or null when a claim within the window is held (a duplicate in flight). */
  claim(system: number, talkgroup: number, startedAt: number): Promise<string | null>
  release(system: number, talkgroup: number, token: string): Promise<void>
}

export class LocalCallClaims implements CallClaims {
  /** Start times being imported, by `system/talkgroup`, with their tokens. */
  private readonly held = new Map<string, Map<string, number>>()

  async claim(system: number, talkgroup: number, startedAt: number): Promise<string | null> {
    const key = `${system}/${talkgroup}`
    const claims = this.held.get(key) ?? new Map<string, number>()
    for (const at of claims.values()) if (Math.abs(at - startedAt) <= DUPLICATE_WINDOW_MS) return null
    const token = randomUUID()
    claims.set(token, startedAt)
    this.held.set(key, claims)
    return token
  }

  async release(system: number, talkgroup: number, token: string): Promise<void> {
    const key = `${system}/${talkgroup}`
    const claims = this.held.get(key)
    claims?.delete(token)
    if (claims?.size === 0) this.held.delete(key)
  }
}

/** Members `<claimed at ms>:<token>` scored by the call's start; abandoned ones are dropped as they are met. */
const CLAIM = `
local now = redis.call('TIME')
local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local start = tonumber(ARGV[1])
local near = redis.call('ZRANGEBYSCORE', KEYS[1], start - tonumber(ARGV[2]), start + tonumber(ARGV[2]))
for _, member in ipairs(near) do
  local claimedAt = tonumber(string.match(member, '^(%d+):'))
  if claimedAt and ms - claimedAt > tonumber(ARGV[3]) then
    redis.call('ZREM', KEYS[1], member)
  else
    return false
  end
end
local member = string.format('%d', ms) .. ':' .. ARGV[4]
redis.call('ZADD', KEYS[1], start, member)
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return member`

export class RedisCallClaims implements CallClaims {
  /** While Redis is unreachable, claims are this instance's own (the database check still holds across instances). */
  private readonly alone = new LocalCallClaims()

  constructor(private readonly link: RedisLink) {}

  async claim(system: number, talkgroup: number, startedAt: number): Promise<string | null> {
    try {
      const member = await this.link.commands.eval(
        CLAIM,
        1,
        claimsKey(system, talkgroup),
        startedAt,
        DUPLICATE_WINDOW_MS,
        CLAIM_TTL_MS,
        randomUUID(),
      )
      return typeof member === 'string' ? member : null
    } catch (err) {
      log.warn({ err }, 'call claims unreachable in Redis; claimed on this instance only')
      const token = await this.alone.claim(system, talkgroup, startedAt)
      return token === null ? null : `local:${token}`
    }
  }

  async release(system: number, talkgroup: number, token: string): Promise<void> {
    if (token.startsWith('local:')) return this.alone.release(system, talkgroup, token.slice('local:'.length))
    // An unreleased claim is dropped as abandoned after CLAIM_TTL_MS.
    await this.link.commands.zrem(claimsKey(system, talkgroup), token).catch(() => {})
  }
}

function claimsKey(system: number, talkgroup: number): string {
  return `airwave:calls:importing:${system}/${talkgroup}`
}
