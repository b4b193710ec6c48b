/**
 * One instance's view of the cluster: who it is, its Redis link, the membership and the leases. Without REDIS_URL it
 * is a single node: in-process implementations, exactly today's behaviour. Features take what they need from here
 * where the services are composed (src/app-services.ts) and never ask which mode they run in.
 */
import type { Config } from '../config.ts'
import { DEFAULT_LEASE_TIMING, type Leases, type LeaseTiming, LocalLeases, RedisLeases } from './leases.ts'
import { type InstanceInfo, type Membership, RedisMembership, SingleNodeMembership } from './membership.ts'
import { RedisLink } from './redis-link.ts'

export interface ClusterStatus {
  instanceId: string
  mode: 'single' | 'cluster'
  /** `degraded`: Redis is unreachable and this instance works on its own until it is back. */
  status: 'ok' | 'degraded'
  redis: 'ok' | 'unreachable' | 'not configured'
  /** The live instances (from Redis); just this one for a single node or while Redis is unreachable. */
  instances: InstanceInfo[]
}

export class Cluster {
  readonly membership: Membership
  readonly leases: Leases

  constructor(
    readonly instanceId: string,
    /** Undefined for a single node. */
    readonly redis: RedisLink | undefined,
    leaseTiming: LeaseTiming = DEFAULT_LEASE_TIMING,
    /** Where the other instances reach this one (INSTANCE_URL), announced with the membership. */
    readonly instanceUrl = '',
  ) {
    this.membership = redis
      ? new RedisMembership(instanceId, redis, instanceUrl)
      : new SingleNodeMembership(instanceId)
    this.leases = redis ? new RedisLeases(instanceId, redis, leaseTiming) : new LocalLeases()
  }

  static fromConfig(config: Config): Cluster {
    return new Cluster(
      config.instanceId,
      config.redisUrl ? new RedisLink(config.redisUrl) : undefined,
      DEFAULT_LEASE_TIMING,
      config.instanceUrl,
    )
  }

  async status(): Promise<ClusterStatus> {
    const self = { instanceId: this.instanceId }
    if (!this.redis) {
      return {
        ...self,
        mode: 'single',
        status: 'ok',
        redis: 'not configured',
        instances: await this.membership.instances(),
      }
    }
    try {
      return {
        ...self,
        mode: 'cluster',
        status: 'ok',
        redis: 'ok',
        instances: await this.membership.instances(),
      }
    } catch {
      return {
        ...self,
        mode: 'cluster',
        status: 'degraded',
        redis: 'unreachable',
        instances: [{ id: this.instanceId, lastSeenMs: 0 }],
      }
    }
  }

  async close(): Promise<void> {
    await this.membership.stop()
    this.redis?.close()
  }
}
