/**
 * The cluster's connections to Redis: one for commands, and dedicated ones for blocking reads and subscriptions (a
 * connection blocked in XREAD cannot carry anything else). Commands fail at once while Redis is unreachable (no
 * offline queue): callers fall back to per-instance operation, and every connection reconnects by itself.
 */
import Redis from 'ioredis'
import { log } from '../platform/log.ts'

/** Gap between reconnection attempts while Redis is unreachable. */
export const REDIS_RECONNECT_MS = 500
/** A command with no answer after this long fails (a stalled Redis must not stall requests). */
export const REDIS_COMMAND_TIMEOUT_MS = 2000
/** Logs about an unreachable Redis, at most one per this long per connection. */
const ERROR_LOG_EVERY_MS = 10_000

export class RedisLink {
  /** For commands (never blocking ones). */
  readonly commands: Redis
  private readonly connections: Redis[] = []
  private sharedSubscriber: Redis | undefined

  constructor(readonly url: string) {
    this.commands = this.connect('commands', REDIS_COMMAND_TIMEOUT_MS)
  }

  /** Whether the command connection is up now. */
  get reachable(): boolean {
    return this.commands.status === 'ready'
  }

  /** A connection of its own for blocking reads (XREAD BLOCK) or pub/sub, closed with the link. */
  dedicated(role: string): Redis {
    return this.connect(role, undefined)
  }

  /**
   * The instance's one connection for subscriptions, shared by every feature (each listens to its own channels).
   * One connection receives every channel's messages in the order Redis published them, so messages published one
   * after the other on `commands` (e.g. a playback session to the other instances, then its announcement to the
   * user's room) are handled here in that order too.
   */
  get subscriber(): Redis {
    this.sharedSubscriber ??= this.dedicated('subscriber')
    return this.sharedSubscriber
  }

  close(): void {
    for (const connection of this.connections) connection.disconnect()
  }

  private connect(role: string, commandTimeout: number | undefined): Redis {
    const connection = new Redis(this.url, {
      lazyConnect: false,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      connectTimeout: REDIS_COMMAND_TIMEOUT_MS,
      // Commands sent in one turn of the event loop go out in one write (many ingest requests are handled per turn).
      ...(commandTimeout ? { commandTimeout, enableAutoPipelining: true } : {}),
      retryStrategy: () => REDIS_RECONNECT_MS,
    })
    let lastLogged = 0
    connection.on('error', (err) => {
      const now = Date.now()
      if (now - lastLogged < ERROR_LOG_EVERY_MS) return
      lastLogged = now
      log.warn({ err, role }, 'redis connection failed; retrying')
    })
    this.connections.push(connection)
    return connection
  }
}
