/**
 * One playback session per user across the cluster (GUIDE principle 13): what the playback service needs from the
 * other instances, as an interface with an in-process implementation (a single node: there is nothing to share) and
 * a Redis one (src/playback/redis-session-sync.ts), chosen once in src/app-services.ts.
 */
import type { PlaybackSession } from '../../actors/playback.machine.ts'

export interface SessionSync {
  /**
   * Makes a change this instance accepted the cluster's: the newest session of the user for every instance, and
   * safe from this instance's death. Resolves once that holds, with undefined; or with the cluster's session when a
   * newer change from another instance beats this one (see `isNewerSession`). Never rejects: without the cluster
   * the change stands on this instance alone.
   */
  share(userId: string, session: PlaybackSession): Promise<PlaybackSession | undefined>
  /** The user's newest session in the cluster, if it has one; undefined too when the cluster is unreachable. */
  latest(userId: string): Promise<PlaybackSession | undefined>
  /** Calls `handle` with each session another instance shares. */
  onRemoteChange(handle: (userId: string, session: PlaybackSession) => void): void
  /** Calls `handle` when the cluster is reachable again after an outage (to share what changed meanwhile). */
  onReconnect(handle: () => void): void
  /** Stops; `allSaved`: every session this instance shared is in the database, nothing is left for others to save. */
  close(allSaved: boolean): Promise<void>
}

/** A single node: its actors are the only sessions. */
export class LocalSessionSync implements SessionSync {
  async share(): Promise<PlaybackSession | undefined> {
    return undefined
  }

  async latest(): Promise<PlaybackSession | undefined> {
    return undefined
  }

  onRemoteChange(): void {}

  onReconnect(): void {}

  async close(): Promise<void> {}
}
