/**
 * Playback sessions: one `playback` actor per user (`playback:<userId>` in the registry) owns the session; this
 * service restores it from the store when the actor starts, sends it the user's changes, and carries out its
 * effects: announcements to the user's room `user_{userId}` (every socket of that user, no one else's) and writes
 * to the store. Socket handlers and routes call it; it never sees Elysia.
 *
 * In a cluster each instance runs its own actor for a user it serves, and they hold one session: every accepted
 * change is shared (SessionSync) before it is acknowledged, the other instances' actors take it (`sync`), a change
 * that lost to a newer one from another instance is answered as stale, and an actor starts from the newest of the
 * cluster's session and the database's.
 */
import {
  isNewerSession,
  type PlaybackActor,
  type PlaybackEvent,
  type PlaybackSession,
  playbackMachine,
} from '../../actors/playback.machine.ts'
import type { Identity } from '../identity/tokens.ts'
import type { ActorRegistry } from '../platform/actors/registry.ts'
import { outageUnlessInvalidValue } from '../platform/db/faults.ts'
import {
  ForbiddenError,
  NotFoundError,
  ServiceUnavailableError,
  UnauthorizedError,
} from '../platform/errors.ts'
import { log } from '../platform/log.ts'
import type { Dispatcher } from '../realtime/dispatcher.ts'
import type { TrackCatalog } from '../tracks/catalog.ts'
import { playbackMetrics } from './metrics.ts'
import { type SessionView, sessionView } from './model.ts'
import { LocalSessionSync, type SessionSync } from './session-sync.ts'
import type { SessionStore } from './store.ts'

export const PLAYBACK_KIND = 'playback'
/** How long shutdown waits for the last session writes. */
const SHUTDOWN_WRITE_TIMEOUT_MS = 3000

/** The room holding every socket of one user (personal-track-control.md). */
export function userRoom(userId: string): string {
  return `user_${userId}`
}

/** The token's user; a `userId` in a message or body must be that same user (it never grants anything). */
export function actingUser(identity: Identity | null, claimed: string | undefined): string {
  if (!identity) throw new UnauthorizedError('Playback needs a valid token')
  if (claimed !== undefined && claimed !== identity.userId) {
    throw new ForbiddenError('userId does not match the token', 'USER_MISMATCH')
  }
  return identity.userId
}

export class TrackNotFoundError extends NotFoundError {
  constructor(trackId: string) {
    super(`Track ${trackId} not found`, 'TRACK_NOT_FOUND')
  }
}

/** A change as a socket or route hands it over: the machine's event without the track's length and time. */
export type PlaybackChange = (
  | { type: 'play'; position?: number }
  | { type: 'pause'; position?: number }
  | { type: 'update'; position: number; playing: boolean }
) & {
  trackId: string
  deviceId: string
  /** Epoch ms the device made the change, when it says so. */
  timestamp?: number
}

export interface ChangeOutcome {
  /**
   * `stale`: older than the session, refused; `ignored`: a position report from a device that does not lead the
   * session (see actors/playback.machine.ts).
   */
  outcome: 'applied' | 'stale' | 'ignored'
  session: SessionView
}

export interface PlaybackServiceOptions {
  now?: () => number
  /** The other instances of the cluster; a single node shares nothing (LocalSessionSync). */
  sync?: SessionSync
}

export class PlaybackService {
  /** Actors being restored from the store, so concurrent first requests of a user share one. */
  private readonly restoring = new Map<string, Promise<PlaybackActor>>()
  /** The share of the change an actor just accepted, for `change` to await (set while the actor handles it). */
  private readonly sharing = new Map<string, Promise<PlaybackSession | undefined>>()
  private readonly now: () => number
  private readonly sync: SessionSync

  constructor(
    private readonly registry: ActorRegistry,
    private readonly store: SessionStore,
    private readonly catalog: TrackCatalog,
    private readonly realtime: Dispatcher,
    options: PlaybackServiceOptions = {},
  ) {
    this.now = options.now ?? Date.now
    this.sync = options.sync ?? new LocalSessionSync()
    this.sync.onRemoteChange((userId, session) => this.adopt(userId, session))
    this.sync.onReconnect(() => this.shareAll())
    registry.define(
      PLAYBACK_KIND,
      playbackMachine.provide({
        actions: {
          announce: (_, { userId, event, session }) => {
            // Shared before it is announced, on the same Redis connection: every instance's actor has the change
            // before any device can hear of it and answer (e.g. a follower that must be ignored now).
            this.sharing.set(userId, this.sync.share(userId, session))
            realtime.toRoom(userRoom(userId), event, this.view(userId, session))
          },
          save: (_, { userId, session }) => store.save(userId, session),
        },
      }),
      {
        onShutdown: async (actor) => {
          actor.send({ type: 'flush' })
          await store.drain(SHUTDOWN_WRITE_TIMEOUT_MS)
        },
      },
    )
  }

  /**
   * Applies a change for `userId`; TrackNotFoundError (and no change) when the user cannot see the track. A change
   * older than the session is refused (`stale`), a follower's position report is `ignored`; either way the reply
   * is the session as it stands.
   */
  async change(userId: string, change: PlaybackChange): Promise<ChangeOutcome> {
    const track = this.catalog.find(change.trackId, userId)
    if (!track) throw new TrackNotFoundError(change.trackId)
    const arrived = this.now()
    const { timestamp, ...rest } = change
    const event: PlaybackEvent = {
      ...rest,
      duration: track.duration,
      at: timestamp === undefined ? arrived : Math.min(timestamp, arrived),
    }
    const actor = await this.actorFor(userId)
    const before = actor.getSnapshot().context
    this.sharing.delete(userId)
    actor.send(event)
    const shared = this.sharing.get(userId)
    this.sharing.delete(userId)
    const { context } = actor.getSnapshot()
    let outcome: ChangeOutcome['outcome'] =
      context.staleCount > before.staleCount
        ? 'stale'
        : context.ignoredCount > before.ignoredCount
          ? 'ignored'
          : 'applied'
    let session = context.session
    if (outcome === 'applied' && shared) {
      const newer = await shared
      if (newer) {
        // Another instance took a newer change first: it wins here too, and the user's devices hear it last.
        outcome = 'stale'
        actor.send({ type: 'sync', session: newer })
        session = newer
        this.realtime.toRoom(
          userRoom(userId),
          newer.playing ? 'trackPlaying' : 'trackPaused',
          this.view(userId, newer),
        )
      }
    }
    playbackMetrics.changes.inc({ outcome })
    return { outcome, session: this.view(userId, session) }
  }

  /** The user's session now (restored from the store if its actor is not running). */
  async current(userId: string): Promise<SessionView> {
    const actor = await this.actorFor(userId)
    return this.view(userId, actor.getSnapshot().context.session)
  }

  /** Stops writing (after the registry's shutdown gave every session its last write). */
  async close(): Promise<void> {
    const allSaved = await this.store.drain(SHUTDOWN_WRITE_TIMEOUT_MS)
    await this.sync.close(allSaved)
    this.store.stop()
  }

  /** A session another instance accepted: this instance's actor of the user takes it (when it runs here). */
  private adopt(userId: string, session: PlaybackSession): void {
    const running = this.registry.get<typeof playbackMachine>(PLAYBACK_KIND, userId)
    if (running) running.send({ type: 'sync', session })
    else
      void this.restoring.get(userId)?.then(
        (actor) => actor.send({ type: 'sync', session }),
        () => {},
      )
  }

  /** Back in touch with the cluster after an outage: every session here is shared again; the newest wins. */
  private shareAll(): void {
    for (const { key, actor } of this.registry.list(PLAYBACK_KIND)) {
      const session = (actor as PlaybackActor).getSnapshot().context.session
      if (!session) continue
      void this.sync.share(key, session).then((newer) => {
        if (newer) (actor as PlaybackActor).send({ type: 'sync', session: newer })
      })
    }
  }

  private view(userId: string, session: PlaybackSession | null): SessionView {
    const track = session ? (this.catalog.find(session.trackId, userId) ?? null) : null
    return sessionView(session, track, this.now())
  }

  private actorFor(userId: string): PlaybackActor | Promise<PlaybackActor> {
    const running = this.registry.get<typeof playbackMachine>(PLAYBACK_KIND, userId)
    if (running) return running
    const pending = this.restoring.get(userId)
    if (pending) return pending
    const restored = Promise.all([this.store.load(userId), this.sync.latest(userId)])
      .then(([saved, shared]) => (shared && isNewerSession(shared, saved ?? null) ? shared : saved))
      .catch((err) => {
        // Starting an empty session here would overwrite the saved one once the database is back.
        throw outageUnlessInvalidValue(err, () => {
          log.error({ err }, 'playback session load failed')
          return new ServiceUnavailableError(
            'Playback sessions are unavailable; retry shortly',
            'SESSIONS_UNAVAILABLE',
          )
        })
      })
      .then((saved) => {
        const actor = this.registry.getOrSpawn<typeof playbackMachine>(PLAYBACK_KIND, userId, { userId })
        if (saved) actor.send({ type: 'restore', session: saved })
        return actor
      })
      .finally(() => this.restoring.delete(userId))
    this.restoring.set(userId, restored)
    return restored
  }
}
