/**
 * The playback events on the shared `/ws` (personal-track-control.md). Every signed-in socket joins its user's
 * room `user_{userId}` when it connects; changes are announced there by the user's actor (`trackPlaying`,
 * `trackPaused`, `trackUpdated`), so all of the user's devices hear them and nobody else does. Each event needs
 * a token; the gateway answers anonymous sockets with an `error` event.
 */
import type { Static } from 'elysia'
import type { WsConnection, WsGateway } from '../ws/gateway.ts'
import { SocketPayloads } from './model.ts'
import { actingUser, type PlaybackChange, type PlaybackService, userRoom } from './service.ts'

/** A client-chosen device label (`/ws?device=`), else the connection id names the device in the session. */
const DEVICE_LABEL = /^[A-Za-z0-9_.:-]{1,64}$/

function deviceOf(connection: WsConnection): string {
  const label = connection.query.device
  return label !== undefined && DEVICE_LABEL.test(label) ? label : connection.id
}

export function registerPlaybackSocket(gateway: WsGateway, playback: PlaybackService): void {
  gateway.onOpen((connection) => {
    if (connection.identity) gateway.join(connection, userRoom(connection.identity.userId))
  })

  const on = <K extends keyof typeof SocketPayloads>(
    event: K,
    handle: (connection: WsConnection, userId: string, data: Static<(typeof SocketPayloads)[K]>) => unknown,
  ) => {
    gateway.on(event, SocketPayloads[event], { auth: 'required' }, async (connection, data) => {
      await handle(connection, actingUser(connection.identity, data.userId), data)
    })
  }

  /** The change is announced to the whole room; only a refused (stale) one is answered, to its sender alone. */
  const change = async (connection: WsConnection, userId: string, change: PlaybackChange) => {
    const outcome = await playback.change(userId, change)
    if (!outcome.applied) connection.send('trackState', { ...outcome.session, stale: true })
  }

  on('playTrack', (connection, userId, data) =>
    change(connection, userId, {
      type: 'play',
      trackId: data.trackId,
      position: data.currentTime,
      deviceId: deviceOf(connection),
      timestamp: data.timestamp,
    }),
  )

  on('pauseTrack', (connection, userId, data) =>
    change(connection, userId, {
      type: 'pause',
      trackId: data.trackId,
      position: data.currentTime,
      deviceId: deviceOf(connection),
      timestamp: data.timestamp,
    }),
  )

  on('updateStreaming', (connection, userId, data) =>
    change(connection, userId, {
      type: 'update',
      trackId: data.trackId,
      position: data.currentTime,
      playing: data.isPlaying,
      deviceId: deviceOf(connection),
      timestamp: data.timestamp,
    }),
  )

  on('getCurrentState', async (connection, userId) => {
    connection.send('trackState', await playback.current(userId))
  })
}
