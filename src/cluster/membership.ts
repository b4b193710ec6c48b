/**
 * Which instances make up the cluster. Each one announces itself in Redis every heartbeat (scored by Redis's own
 * clock, so clock skew between hosts does not matter); an instance not heard from for `MEMBER_TIMEOUT_MS` is gone.
 */
import type { RedisLink } from './redis-link.ts'

export const HEARTBEAT_MS = 1000
export const MEMBER_TIMEOUT_MS = 3500
const MEMBERS_KEY = 'airwave:instances'
/** Hash of instance id → the URL other instances reach it at (INSTANCE_URL), written with every heartbeat. */
const URLS_KEY = 'airwave:instance-urls'

export interface InstanceInfo {
  id: string
  /** Milliseconds since the instance was last heard from. */
  lastSeenMs: number
}

export interface Membership {
  readonly instanceId: string
  /** The live instances, this one included. */
  instances(): Promise<InstanceInfo[]>
  /** The address another instance reaches live instance `id` at (undefined: unknown, or not live). */
  urlOf(id: string): Promise<string | undefined>
  stop(): Promise<void>
}

/** One instance alone: it is the whole cluster. */
export class SingleNodeMembership implements Membership {
  constructor(readonly instanceId: string) {}

  async instances(): Promise<InstanceInfo[]> {
    return [{ id: this.instanceId, lastSeenMs: 0 }]
  }

  async urlOf(_id: string): Promise<string | undefined> {
    return undefined
  }

  async stop(): Promise<void> {}
}

const HEARTBEAT = `
local now = redis.call('TIME')
local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
redis.call('ZADD', KEYS[1], ms, ARGV[1])
if ARGV[3] ~= '' then redis.call('HSET', KEYS[2], ARGV[1], ARGV[3]) end
local gone = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ms - tonumber(ARGV[2]) * 20)
for _, id in ipairs(gone) do redis.call('HDEL', KEYS[2], id) end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ms - tonumber(ARGV[2]) * 20)
return ms`

/** The URL of a member heard from within the timeout; nil otherwise. */
const URL_OF = `
local seen = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not seen then return false end
local now = redis.call('TIME')
local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
if ms - tonumber(seen) > tonumber(ARGV[2]) then return false end
return redis.call('HGET', KEYS[2], ARGV[1])`

const LIVE = `
local now = redis.call('TIME')
local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local found = redis.call('ZRANGEBYSCORE', KEYS[1], ms - tonumber(ARGV[1]), '+inf', 'WITHSCORES')
local out = {}
for i = 1, #found, 2 do
  out[#out + 1] = found[i]
  out[#out + 1] = tostring(ms - tonumber(found[i + 1]))
end
return out`

export class RedisMembership implements Membership {
  private readonly timer: ReturnType<typeof setInterval>

  constructor(
    readonly instanceId: string,
    private readonly link: RedisLink,
    /** Where the other instances reach this one (INSTANCE_URL); '' announces none. */
    private readonly url = '',
  ) {
    this.timer = setInterval(() => void this.beat(), HEARTBEAT_MS)
    // Announced as soon as the connection is up, at start and after every reconnection.
    link.commands.on('ready', () => void this.beat())
  }

  async instances(): Promise<InstanceInfo[]> {
    const flat = (await this.link.commands.eval(LIVE, 1, MEMBERS_KEY, MEMBER_TIMEOUT_MS)) as string[]
    const out: InstanceInfo[] = []
    for (let i = 0; i + 1 < flat.length; i += 2) {
      out.push({ id: flat[i] as string, lastSeenMs: Math.max(0, Number(flat[i + 1])) })
    }
    return out.sort((a, b) => a.id.localeCompare(b.id))
  }

  async urlOf(id: string): Promise<string | undefined> {
    const url = (await this.link.commands.eval(URL_OF, 2, MEMBERS_KEY, URLS_KEY, id, MEMBER_TIMEOUT_MS)) as
      | string
      | null
    return url ?? undefined
  }

  async stop(): Promise<void> {
    clearInterval(this.timer)
    // Leaving says so at once, instead of after the timeout.
    await this.link.commands
      .multi()
      .zrem(MEMBERS_KEY, this.instanceId)
      .hdel(URLS_KEY, this.instanceId)
      .exec()
      .catch(() => {})
  }

  private async beat(): Promise<void> {
    // While Redis is unreachable the beat fails; the next one after it returns announces the instance again.
    await this.link.commands
      .eval(HEARTBEAT, 2, MEMBERS_KEY, URLS_KEY, this.instanceId, MEMBER_TIMEOUT_MS, this.url)
      .catch(() => {})
  }
}
