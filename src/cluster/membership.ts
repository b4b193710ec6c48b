/**
 * Which instances make up the cluster. Each one announces itself in Redis every heartbeat (scored by Redis's own
 * clock, so clock skew between hosts does not matter); an instance not heard from for `MEMBER_TIMEOUT_MS` is gone.
 */
import type { RedisLink } from './redis-link.ts'

export const HEARTBEAT_MS = 1000
export const MEMBER_TIMEOUT_MS = 3500
const MEMBERS_KEY = 'airwave:instances'

export interface InstanceInfo {
  id: string
  /** Milliseconds since the instance was last heard from. */
  lastSeenMs: number
}

export interface Membership {
  readonly instanceId: string
  /** The live instances, this one included. */
  instances(): Promise<InstanceInfo[]>
  stop(): Promise<void>
}

/** One instance alone: it is the whole cluster. */
export class SingleNodeMembership implements Membership {
  constructor(readonly instanceId: string) {}

  async instances(): Promise<InstanceInfo[]> {
    return [{ id: this.instanceId, lastSeenMs: 0 }]
  }

  async stop(): Promise<void> {}
}

const HEARTBEAT = `
local now = redis.call('TIME')
local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
redis.call('ZADD', KEYS[1], ms, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ms - tonumber(ARGV[2]) * 20)
return ms`

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

  async stop(): Promise<void> {
    clearInterval(this.timer)
    // Leaving says so at once, instead of after the timeout.
    await this.link.commands.zrem(MEMBERS_KEY, this.instanceId).catch(() => {})
  }

  private async beat(): Promise<void> {
    // While Redis is unreachable the beat fails; the next one after it returns announces the instance again.
    await this.link.commands
      .eval(HEARTBEAT, 1, MEMBERS_KEY, this.instanceId, MEMBER_TIMEOUT_MS)
      .catch(() => {})
  }
}
