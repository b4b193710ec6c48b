/**
 * One user's playback session across all their devices (personal-track-control.md): idle → playing ⇄ paused.
 *
 * The session is what the user is listening to: a track, the position at `updatedAt`, whether it plays, and
 * the device that last acted. While playing, the position moves on by itself: `positionAt` extrapolates
 * `position + (now − updatedAt)`. Every change carries the time it happened (`at`): the newest change wins,
 * and a change older than the session (a device that was offline sending what it did back then) is refused
 * and counted, so it can never drag the position back.
 *
 * Which device leads: the one that made the last accepted change (`deviceId`). Only explicit actions move the
 * session from any device: `play` and `pause` (a seek is either, with a position; another track is a `play`), and
 * the device that makes one becomes the leader. An `update` is a position report: it is applied only from the
 * leader (its drift corrections, or reports of where it really is). A report from any other device is ignored and
 * counted (`ignoredCount`): a follower reports where it is as it follows, and that can be where the session was
 * before the leader's last seek, which it must never undo.
 *
 * Writing is throttled here, written elsewhere: a change is handed to `save` only when it matters to a
 * restored session (another track, play/pause, or a position more than DRIFT_TOLERANCE_S away from where the
 * last saved session says the listener is), at most once per SAVE_INTERVAL_MS (later ones coalesce into one
 * write at the end of the interval). Straight playback therefore writes once, when it starts: the saved row
 * extrapolates to the same place. `flush` (shutdown) saves whatever is newer than the last write. Every
 * SESSION_IDLE_MS the session checks whether it changed since the last check; if not, it flushes and ends (so one
 * to two intervals after its last change), and the next access restores it from what was saved. One timer per
 * interval, not one per change: rescheduling a timer on every update costs more than the update itself at
 * thousands per second.
 *
 * In a cluster every instance may run an actor for the same user; a change accepted on one instance reaches the
 * others as `sync` (the session it produced), which an actor takes when it is newer than its own (`isNewerSession`),
 * so the leader rule and the staleness check see the whole cluster's changes. A synced session is neither announced
 * nor saved here: the instance that accepted the change did both.
 *
 * Pure: the server provides `announce` (the user's sockets) and `save` (the database) with `.provide()`.
 */
import { type ActorRefFrom, assign, setup } from 'xstate'

/** Shortest time between two writes of one session. */
export const SAVE_INTERVAL_MS = 1000
/** A position this close to where the saved session extrapolates to is not worth a write. */
export const DRIFT_TOLERANCE_S = 2
/** How often a session checks it is still in use; one without a change for a whole interval is saved and ends. */
export const SESSION_IDLE_MS = 10 * 60_000

export interface PlaybackSession {
  trackId: string
  /** Seconds into the track at `updatedAt`. */
  position: number
  /** The track's length in seconds, 0 when unknown; extrapolation stops there. */
  duration: number
  playing: boolean
  /** Epoch ms of the change this session reflects. */
  updatedAt: number
  /** The device (socket or client label) that made the change. */
  deviceId: string
}

/** What every change says: which track, on which device, when. */
interface Change {
  trackId: string
  /** The track's length (seconds, 0 when unknown), from the catalog. */
  duration: number
  deviceId: string
  /** Epoch ms when the change happened on the device; never later than its arrival. */
  at: number
}

export type PlaybackEvent =
  /** Play `trackId` from `position`, or on from where the session is when it is the same track (else from 0). */
  | ({ type: 'play'; position?: number } & Change)
  /** Pause at `position`, or where the session is when it is the same track (else at 0). */
  | ({ type: 'pause'; position?: number } & Change)
  /** A device reports where it is and whether it plays; only the leader's reports are applied. */
  | ({ type: 'update'; position: number; playing: boolean } & Change)
  /** The session as saved before this actor existed (sent once, right after it starts). */
  | { type: 'restore'; session: PlaybackSession }
  /** The session another instance of the cluster made; taken when newer than this one's. */
  | { type: 'sync'; session: PlaybackSession }
  /** Save anything newer than the last write now (server shutdown). */
  | { type: 'flush' }
  | { type: 'save.cooled' }
  | { type: 'idle.check' }

/** The server event each accepted change is announced with. */
const ANNOUNCEMENTS = { play: 'trackPlaying', pause: 'trackPaused', update: 'trackUpdated' } as const
export type Announcement = (typeof ANNOUNCEMENTS)[keyof typeof ANNOUNCEMENTS]

export interface PlaybackContext {
  userId: string
  /** Null until the user first plays something. */
  session: PlaybackSession | null
  /** The session as last handed to `save`. */
  saved: PlaybackSession | null
  /** `cooling`: a write happened less than SAVE_INTERVAL_MS ago; `queued`: another is due when it ends. */
  saveThrottle: 'ready' | 'cooling' | 'queued'
  /** Changes refused because they were older than the session. */
  staleCount: number
  /** Position reports ignored because they came from a device that does not lead the session. */
  ignoredCount: number
  /** A change was accepted since the last idle check. */
  changedSinceCheck: boolean
}

/** Where the listener is at `now` (epoch ms): on from `position` while playing, never past the track's end. */
export function positionAt(session: PlaybackSession, now: number): number {
  if (!session.playing) return session.position
  const moved = session.position + Math.max(0, now - session.updatedAt) / 1000
  return session.duration > 0 ? Math.min(moved, Math.max(session.duration, session.position)) : moved
}

/**
 * Whether `a` wins over `b` when two instances' sessions meet: the later change, and between changes of the same
 * millisecond the greater device id, so every instance picks the same one.
 */
export function isNewerSession(a: PlaybackSession, b: PlaybackSession | null): boolean {
  if (!b) return true
  return a.updatedAt > b.updatedAt || (a.updatedAt === b.updatedAt && a.deviceId > b.deviceId)
}

type ChangeEvent = Extract<PlaybackEvent, { type: 'play' | 'pause' | 'update' }>

function nextSession(current: PlaybackSession | null, event: ChangeEvent): PlaybackSession {
  const here = current?.trackId === event.trackId ? positionAt(current, event.at) : 0
  return {
    trackId: event.trackId,
    position: event.position ?? here,
    duration: event.duration,
    playing: event.type === 'play' || (event.type === 'update' && event.playing),
    updatedAt: event.at,
    deviceId: event.deviceId,
  }
}

/** Whether a restored session would differ from `saved` in a way the listener would notice. */
function worthSaving(saved: PlaybackSession | null, session: PlaybackSession): boolean {
  if (!saved || saved.trackId !== session.trackId || saved.playing !== session.playing) return true
  return Math.abs(positionAt(saved, session.updatedAt) - session.position) > DRIFT_TOLERANCE_S
}

const playbackSetup = setup({
  types: {
    context: {} as PlaybackContext,
    events: {} as PlaybackEvent,
    input: {} as { userId: string },
  },
  actions: {
    /** Tell every socket of the user. */
    announce: (_, _params: { userId: string; event: Announcement; session: PlaybackSession }) => {},
    /** Write the session (the server queues and batches it). */
    save: (_, _params: { userId: string; session: PlaybackSession }) => {},
    countStale: assign({ staleCount: ({ context }) => context.staleCount + 1 }),
    countIgnored: assign({ ignoredCount: ({ context }) => context.ignoredCount + 1 }),
    restore: assign(({ event }) => {
      if (event.type !== 'restore') return {}
      return { session: event.session, saved: event.session }
    }),
    /** Another instance's newer session, as that instance saved it. */
    adopt: assign(({ event }) => {
      if (event.type !== 'sync') return {}
      return { session: event.session, saved: event.session, changedSinceCheck: true }
    }),
  },
  guards: {
    isStale: ({ context, event }) =>
      context.session !== null && 'at' in event && event.at < context.session.updatedAt,
    fromFollower: ({ context, event }) =>
      event.type === 'update' && context.session !== null && event.deviceId !== context.session.deviceId,
    playsOn: ({ event }) => event.type === 'update' && event.playing,
    restoresPlaying: ({ event }) => event.type === 'restore' && event.session.playing,
    syncIsNewer: ({ context, event }) =>
      event.type === 'sync' && isNewerSession(event.session, context.session),
    syncPlays: ({ context, event }) =>
      event.type === 'sync' && event.session.playing && isNewerSession(event.session, context.session),
    changedSinceCheck: ({ context }) => context.changedSinceCheck,
  },
})

export const playbackMachine = playbackSetup
  .extend({
    actions: {
      accept: playbackSetup.enqueueActions(({ context, event, enqueue }) => {
        if (event.type !== 'play' && event.type !== 'pause' && event.type !== 'update') return
        const session = nextSession(context.session, event)
        enqueue.assign({ session, changedSinceCheck: true })
        if (worthSaving(context.saved, session)) {
          if (context.saveThrottle === 'ready') {
            enqueue.assign({ saved: session, saveThrottle: 'cooling' })
            enqueue({ type: 'save', params: { userId: context.userId, session } })
            enqueue.raise({ type: 'save.cooled' }, { id: 'save', delay: SAVE_INTERVAL_MS })
          } else {
            enqueue.assign({ saveThrottle: 'queued' })
          }
        }
        enqueue({
          type: 'announce',
          params: { userId: context.userId, event: ANNOUNCEMENTS[event.type], session },
        })
      }),
      /** The interval since the last write is over: write what queued up meanwhile, then cool again. */
      cool: playbackSetup.enqueueActions(({ context, enqueue }) => {
        if (context.saveThrottle !== 'queued' || !context.session) {
          enqueue.assign({ saveThrottle: 'ready' })
          return
        }
        enqueue.assign({ saved: context.session, saveThrottle: 'cooling' })
        enqueue({ type: 'save', params: { userId: context.userId, session: context.session } })
        enqueue.raise({ type: 'save.cooled' }, { id: 'save', delay: SAVE_INTERVAL_MS })
      }),
      /** Schedules the next idle check. */
      armIdleCheck: playbackSetup.enqueueActions(({ enqueue }) => {
        enqueue.assign({ changedSinceCheck: false })
        enqueue.raise({ type: 'idle.check' }, { id: 'idle', delay: SESSION_IDLE_MS })
      }),
      flush: playbackSetup.enqueueActions(({ context, enqueue }) => {
        if (!context.session || context.session === context.saved) return
        enqueue.cancel('save')
        enqueue.assign({ saved: context.session, saveThrottle: 'ready' })
        enqueue({ type: 'save', params: { userId: context.userId, session: context.session } })
      }),
    },
  })
  .createMachine({
    id: 'playback',
    context: ({ input }) => ({
      userId: input.userId,
      session: null,
      saved: null,
      saveThrottle: 'ready',
      staleCount: 0,
      ignoredCount: 0,
      changedSinceCheck: false,
    }),
    entry: 'armIdleCheck',
    initial: 'idle',
    on: {
      play: [
        { guard: 'isStale', actions: 'countStale' },
        { target: '.playing', actions: 'accept' },
      ],
      pause: [
        { guard: 'isStale', actions: 'countStale' },
        { target: '.paused', actions: 'accept' },
      ],
      update: [
        { guard: 'isStale', actions: 'countStale' },
        { guard: 'fromFollower', actions: 'countIgnored' },
        {
          guard: 'playsOn',
          target: '.playing',
          actions: 'accept',
        },
        { target: '.paused', actions: 'accept' },
      ],
      sync: [
        { guard: 'syncPlays', target: '.playing', actions: 'adopt' },
        { guard: 'syncIsNewer', target: '.paused', actions: 'adopt' },
      ],
      'save.cooled': { actions: 'cool' },
      flush: { actions: 'flush' },
      'idle.check': [{ guard: 'changedSinceCheck', actions: 'armIdleCheck' }, { target: '.closed' }],
    },
    states: {
      idle: {
        on: {
          restore: [
            { guard: 'restoresPlaying', target: 'playing', actions: 'restore' },
            { target: 'paused', actions: 'restore' },
          ],
        },
      },
      playing: {},
      paused: {},
      closed: { type: 'final', entry: 'flush' },
    },
  })

export type PlaybackMachine = typeof playbackMachine
export type PlaybackActor = ActorRefFrom<PlaybackMachine>
