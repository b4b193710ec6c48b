/**
 * The playback events (personal-track-control.md) on the realtime dispatcher, so on `/ws` and Socket.IO alike.
 * Every signed-in connection joins its user's room `user_{userId}` when it connects; changes are announced there
 * by the user's actor (`trackPlaying`, `trackPaused`, `trackUpdated`), so all of the user's devices hear them on
 * either transport and nobody else does. Each event needs a token; the dispatcher answers anonymous connections
 * with an `error`.
 */
import type { Static } from 'elysia'
import type { Answer, Connection, Dispatcher } from '../realtime/dispatcher.ts'
import { SocketPayloads } from './model.ts'
import { actingUser, type PlaybackChange, type PlaybackService, userRoom } from './service.ts'

/** A client-chosen device label (`?device=`), else the connection id names the device in the session. */
const DEVICE_LABEL = /^[A-Za-z0-9_.:-]{1,64}$/

function deviceOf(connection: Connection): string {
  const label = connection.query.device
  return label !== undefined && DEVICE_LABEL.test(label) ? label : connection.id
}

export function registerPlaybackSocket(dispatcher: Dispatcher, playback: PlaybackService): void {
  dispatcher.onOpen((connection) => {
    if (connection.identity) dispatcher.join(connection, userRoom(connection.identity.userId))
  })

  const on = <K extends keyof typeof SocketPayloads>(
    event: K,
    handle: (
      connection: Connection,
      userId: string,
      data: Static<(typeof SocketPayloads)[K]>,
    ) => Promise<Answer | undefined>,
  ) => {
    dispatcher.on(event, SocketPayloads[event], { auth: 'required' }, (connection, data) =>
      handle(connection, actingUser(connection.identity, data.userId), data),
    )
  }

  /**
   * The change is announced to the whole room. Only a refused (stale) one is answered, to its sender alone, with
   * the session as it stands; a follower's ignored position report gets no answer (it hears the leader's).
   */
  const change = async (userId: string, change: PlaybackChange): Promise<Answer | undefined> => {
    const { outcome, session } = await playback.change(userId, change)
    return outcome === 'stale' ? { event: 'trackState', data: { ...session, stale: true } } : undefined
  }

  on('playTrack', (connection, userId, data) =>
    change(userId, {
      type: 'play',
      trackId: data.trackId,
      position: data.currentTime,
      deviceId: deviceOf(connection),
      timestamp: data.timestamp,
    }),
  )

  on('pauseTrack', (connection, userId, data) =>
    change(userId, {
      type: 'pause',
      trackId: data.trackId,
      position: data.currentTime,
      deviceId: deviceOf(connection),
      timestamp: data.timestamp,
    }),
  )

  on('updateStreaming', (connection, userId, data) =>
    change(userId, {
      type: 'update',
      trackId: data.trackId,
      position: data.currentTime,
      playing: data.isPlaying,
      deviceId: deviceOf(connection),
      timestamp: data.timestamp,
    }),
  )

  on('getCurrentState', async (_connection, userId) => ({
    event: 'trackState',
    data: await playback.current(userId),
  }))
}
