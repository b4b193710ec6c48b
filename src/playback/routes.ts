/**
 * Playback over HTTP (personal-track-control.md, CONTRACT "Playback REST replies"): the same session and the same
 * announcements as the WebSocket events, at `/tracks/*` and `/api/tracks/*`. Every route needs a JWT.
 */
import { Elysia } from 'elysia'
import { authPlugin } from '../identity/auth-plugin.ts'
import type { Identity, TokenService } from '../identity/tokens.ts'
import { success } from '../tracks/model.ts'
import { MoveBody, TrackParams, UpdateBody } from './model.ts'
import { actingUser, type PlaybackService } from './service.ts'

/** The device name HTTP changes are recorded under. */
export const HTTP_DEVICE = 'http'

const tags = ['playback']

export function playbackRoutes(tokens: TokenService, playback: PlaybackService) {
  /** Play or pause `params.id`, at the body's `currentTime` when given. */
  const move =
    (type: 'play' | 'pause') =>
    async ({
      user,
      params,
      body,
    }: {
      user: Identity
      params: { id: string }
      body: typeof MoveBody.static | null
    }) => {
      const userId = actingUser(user, body?.userId)
      const { session } = await playback.change(userId, {
        type,
        trackId: params.id,
        position: body?.currentTime,
        deviceId: HTTP_DEVICE,
        timestamp: body?.timestamp,
      })
      return success(session)
    }
  const controls = (prefix: string) =>
    new Elysia({ name: `playback-routes:${prefix}` })
      .use(authPlugin(tokens))
      .post(`${prefix}/play/:id`, move('play'), {
        auth: true,
        params: TrackParams,
        body: MoveBody,
        detail: { summary: 'Play a track (from currentTime, or on from where the session is)', tags },
      })
      .post(`${prefix}/pause/:id`, move('pause'), {
        auth: true,
        params: TrackParams,
        body: MoveBody,
        detail: { summary: 'Pause (at currentTime, or where the session is)', tags },
      })
      .post(
        `${prefix}/update-state/:id`,
        async ({ user, params, body }) => {
          const userId = actingUser(user, body.userId)
          const { session } = await playback.change(userId, {
            type: 'update',
            trackId: params.id,
            position: body.currentTime,
            playing: body.isPlaying,
            deviceId: HTTP_DEVICE,
            timestamp: body.timestamp,
          })
          return success(session)
        },
        {
          auth: true,
          params: TrackParams,
          body: UpdateBody,
          detail: { summary: 'Set the position and whether it plays', tags },
        },
      )
      .get(`${prefix}/current-state`, async ({ user }) => success(await playback.current(user.userId)), {
        auth: true,
        detail: { summary: "The caller's playback session", tags },
      })
  return new Elysia({ name: 'playback-routes' }).use(controls('/tracks')).use(controls('/api/tracks'))
}
