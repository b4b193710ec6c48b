/**
 * Playback messages (personal-track-control.md, CONTRACT "WebSocket /ws" and "Playback REST replies"): the
 * schemas every WebSocket message and REST input is checked against, and the one wire shape of a session.
 */
import { t } from 'elysia'
import { type PlaybackSession, positionAt } from '../../actors/playback.machine.ts'
import { GuardedString } from '../http/input-guard.ts'
import type { Track } from '../tracks/catalog.ts'
import { trackJson } from '../tracks/model.ts'

/** The longest position accepted (seconds): a week, far past any track. */
export const MAX_POSITION_S = 7 * 24 * 3600

const TrackId = GuardedString({ minLength: 1, maxLength: 128 })
/** Finite and within bounds: NaN, Infinity and negative times are refused. */
const Seconds = t.Number({ minimum: 0, maximum: MAX_POSITION_S })
/** Only ever compared with the token's subject; never grants anything. */
const UserId = GuardedString({ minLength: 1, maxLength: 128 })
/**
 * Epoch ms when the device made the change, for a device sending what it did while offline. Optional: without
 * it the change counts from its arrival. Never trusted beyond the server's clock.
 */
const Timestamp = t.Integer({ minimum: 0 })

/** Client → server events on `/ws`. */
export const SocketPayloads = {
  playTrack: t.Object({
    trackId: TrackId,
    userId: t.Optional(UserId),
    currentTime: t.Optional(Seconds),
    timestamp: t.Optional(Timestamp),
  }),
  pauseTrack: t.Object({
    trackId: TrackId,
    currentTime: Seconds,
    userId: t.Optional(UserId),
    timestamp: t.Optional(Timestamp),
  }),
  updateStreaming: t.Object({
    trackId: TrackId,
    currentTime: Seconds,
    isPlaying: t.Boolean(),
    userId: t.Optional(UserId),
    timestamp: t.Optional(Timestamp),
  }),
  getCurrentState: t.Object({ userId: t.Optional(UserId) }),
}

export const TrackParams = t.Object({ id: TrackId })

/** `POST /tracks/play/:id` and `/pause/:id`: without `currentTime`, play on (or pause) where the session is. */
export const MoveBody = t.Optional(
  t.Object({
    currentTime: t.Optional(Seconds),
    userId: t.Optional(UserId),
    timestamp: t.Optional(Timestamp),
  }),
)

export const UpdateBody = t.Object({
  currentTime: Seconds,
  isPlaying: t.Boolean(),
  userId: t.Optional(UserId),
  timestamp: t.Optional(Timestamp),
})

/** What every playback event and REST reply carries about the user's session. */
export interface SessionView {
  trackId: string | null
  /** Seconds, where the listener is at the moment this was sent. */
  currentTime: number
  isPlaying: boolean
  /** ISO 8601 time of the last change, null before the first. */
  updatedAt: string | null
  /** The track as `GET /api/tracks` shows it, or null (no session, or the track is gone from the library). */
  track: ReturnType<typeof trackJson> | null
  /** The device that made the last change. */
  deviceId: string | null
}

const NO_SESSION: SessionView = {
  trackId: null,
  currentTime: 0,
  isPlaying: false,
  updatedAt: null,
  track: null,
  deviceId: null,
}

export function sessionView(session: PlaybackSession | null, track: Track | null, now: number): SessionView {
  if (!session) return NO_SESSION
  return {
    trackId: session.trackId,
    currentTime: positionAt(session, now),
    isPlaying: session.playing,
    updatedAt: new Date(session.updatedAt).toISOString(),
    track: track ? trackJson(track) : null,
    deviceId: session.deviceId,
  }
}
