import { type Static, type TSchema, t } from 'elysia'
import { TypeCompiler } from 'elysia/type-system'
import type { LivestreamActor } from '../../actors/livestream.machine.ts'
import { log } from '../platform/log.ts'
import type { Answer, Connection, Dispatcher } from '../realtime/dispatcher.ts'
import { ConnectionRefusedError, type LivestreamLimits } from './limits.ts'
import { SocketPayloads } from './model.ts'
import { LivestreamError, type LivestreamErrorCode, LivestreamService } from './service.ts'

/** The dispatcher feature name under which broadcasting sockets' raw binary frames arrive. */
export const LIVESTREAM_FEATURE = 'livestream'

/** Which document code a malformed field gets: the stream id, the identity, or the media. */
const FIELD_CODES: Record<string, LivestreamErrorCode> = {
  streamKey: 'STREAM_NOT_FOUND',
  userId: 'UNAUTHORIZED',
  sessionId: 'STREAM_NOT_FOUND',
  chunk: 'MEDIA_ERROR',
}

/** The document's `stream-error {error, code, streamKey}`; a refused connection is closed after it. */
function streamError(err: LivestreamError, streamKey: string | undefined): Answer {
  const retryAfter = err.headers['Retry-After']
  return {
    event: 'stream-error',
    data: {
      error: err.message,
      code: err.code,
      streamKey: streamKey ?? null,
      ...(retryAfter ? { retryAfter: Number(retryAfter) } : {}),
    },
    // The connection limit counts connections opened: a refused one is closed.
    ...(err instanceof ConnectionRefusedError
      ? { close: { code: 1008, reason: 'livestream connection rate limit' } }
      : {}),
  }
}

/**
 * Registers the livestream events on the realtime dispatcher (so on `/ws` and Socket.IO alike). Every event is
 * registered with `auth: 'optional'` and validated here, so each failure reaches the client as the document's
 * `stream-error {error, code, streamKey}` rather than the dispatcher's generic `error`.
 */
export function registerLivestreamSocket(
  dispatcher: Dispatcher,
  service: LivestreamService,
  limits: LivestreamLimits,
): void {
  const on = <K extends keyof typeof SocketPayloads>(
    event: K,
    handle: (
      connection: Connection,
      data: Static<(typeof SocketPayloads)[K]>,
      streamKey: string,
    ) => Answer | undefined | Promise<Answer | undefined>,
  ) => {
    const schema: TSchema = SocketPayloads[event]
    const check = TypeCompiler.Compile(schema)
    dispatcher.on(event, t.Unknown(), { auth: 'optional' }, (connection, raw) =>
      inOrder(connection.id, () => handleOne(connection, raw)),
    )
    const handleOne = async (connection: Connection, raw: unknown): Promise<Answer | undefined> => {
      const payload = (raw ?? {}) as Record<string, unknown>
      const given = typeof payload.streamKey === 'string' ? payload.streamKey : connection.query.streamKey
      try {
        await limits.event(connection.id, connection.remoteAddress, event)
        if (!check.Check(payload)) {
          const first = check.Errors(payload).First()
          const field = first?.path.split('/')[1] ?? ''
          throw new LivestreamError(
            FIELD_CODES[field] ?? 'MEDIA_ERROR',
            `Invalid "${event}" data${field ? ` at ${field}` : ''}: ${first?.message ?? 'expected an object'}`,
          )
        }
        if (given === undefined || !LivestreamService.isValidKey(given)) {
          throw new LivestreamError(
            'STREAM_NOT_FOUND',
            'streamKey is required (in the data or as /ws?streamKey=): 1–64 letters, digits, - or _',
          )
        }
        return await handle(connection, payload as Static<(typeof SocketPayloads)[K]>, given)
      } catch (err) {
        return failed(connection, err, given)
      }
    }
  }

  /**
   * Each connection's events are handled one after another, in the order they came: a client sends `start-stream` and
   * its first `stream-data` back to back, and starting a stream waits for the cluster (the directory's claim).
   */
  const pending = new Map<string, Promise<unknown>>()
  const inOrder = <T>(connectionId: string, run: () => Promise<T>): Promise<T> => {
    const result = (pending.get(connectionId) ?? Promise.resolve()).then(run)
    const settled = result.then(
      () => {},
      () => {},
    )
    pending.set(connectionId, settled)
    void settled.then(() => {
      if (pending.get(connectionId) === settled) pending.delete(connectionId)
    })
    return result
  }

  const failed = (connection: Connection, err: unknown, streamKey: string | undefined): Answer => {
    if (err instanceof LivestreamError) return streamError(err, streamKey)
    log.error({ err, connection: connection.id }, 'livestream socket handler failed')
    return streamError(new LivestreamError('CONNECTION_FAILED', 'Internal error'), streamKey)
  }

  /** The identity a broadcasting event acts as; a body `userId` must match the token's. */
  const broadcaster = (connection: Connection, userId: string | undefined, action: string): string => {
    if (!connection.identity) {
      throw new LivestreamError(
        'UNAUTHORIZED',
        `${action} needs a valid token: connect with /ws?token=<jwt> (Socket.IO: auth.token)`,
      )
    }
    if (userId !== undefined && userId !== connection.identity.userId) {
      throw new LivestreamError('UNAUTHORIZED', 'userId does not match the token')
    }
    return connection.identity.userId
  }

  const existing = (streamKey: string): LivestreamActor => {
    const actor = service.get(streamKey)
    if (!actor) throw new LivestreamError('STREAM_NOT_FOUND', `Stream ${streamKey} not found`)
    return actor
  }

  /** Checks that `connection` may send media to `actor`, attaching it as broadcaster if the stream has none. */
  const media = async (connection: Connection, actor: LivestreamActor, bytes: Uint8Array) => {
    const userId = broadcaster(connection, undefined, 'Sending stream data')
    const { context } = actor.getSnapshot()
    if (context.ownerId !== userId) {
      throw new LivestreamError('UNAUTHORIZED', 'Only the stream owner may send stream data')
    }
    if (context.broadcaster !== connection.id) {
      if (context.broadcaster !== null) {
        throw new LivestreamError('UNAUTHORIZED', 'Another connection is broadcasting this stream')
      }
      actor.send({ type: 'broadcaster.attach', socket: connection.id })
      connection.claim(LIVESTREAM_FEATURE)
    }
    await limits.media(context.streamKey, bytes.byteLength)
    service.pushMedia(actor, bytes)
  }

  on('start-stream', async (connection, data, streamKey) => {
    const userId = broadcaster(connection, data.userId, 'Broadcasting')
    const current = service.broadcastBy(connection.id)
    if (current && current.getSnapshot().context.streamKey !== streamKey) {
      throw new LivestreamError(
        'STREAM_ALREADY_EXISTS',
        `This connection already broadcasts ${current.getSnapshot().context.streamKey}`,
      )
    }
    const outcome = await service.start(streamKey, userId, connection.id)
    connection.claim(LIVESTREAM_FEATURE)
    return {
      event: 'stream-started',
      data: {
        streamKey,
        status: outcome === 'created' ? 'broadcasting' : 'active',
        message: outcome === 'created' ? 'Stream started: send WebM chunks' : 'Broadcaster reconnected',
        playlistUrl: `/livestream/${streamKey}/stream.m3u8`,
      },
    }
  })

  // A chunk is base64 in JSON, or the bytes themselves as a Socket.IO binary attachment.
  on('stream-data', async (connection, data, streamKey) => {
    const bytes = typeof data.chunk === 'string' ? Buffer.from(data.chunk, 'base64') : data.chunk
    await media(connection, existing(streamKey), bytes)
    return undefined
  })

  dispatcher.onBinary(LIVESTREAM_FEATURE, async (connection, bytes) => {
    const actor = service.broadcastBy(connection.id)
    const streamKey = actor?.getSnapshot().context.streamKey
    try {
      await limits.event(connection.id, connection.remoteAddress, 'stream-data')
      if (!actor)
        throw new LivestreamError('STREAM_NOT_FOUND', 'This connection is not broadcasting a stream')
      await media(connection, actor, bytes)
      return undefined
    } catch (err) {
      return failed(connection, err, streamKey)
    }
  })

  on('end-stream', async (connection, data, streamKey) => {
    const userId = broadcaster(connection, data.userId, 'Ending a stream')
    if (!(await service.exists(streamKey)))
      throw new LivestreamError('STREAM_NOT_FOUND', `Stream ${streamKey} not found`)
    await service.stop(streamKey, userId, 'ended by the broadcaster', connection.id)
    return undefined
  })

  // The stream may run on another instance: the event is sent to it (STREAM_NOT_FOUND when it runs nowhere).
  on('join-stream', async (connection, data, streamKey) => {
    await service.join(streamKey, data.sessionId ?? connection.id, connection.id)
    return undefined
  })

  on('leave-stream', async (connection, _data, streamKey) => {
    await service.leave(streamKey, connection.id)
    return undefined
  })

  dispatcher.onClose((connection) => {
    limits.forget(connection.id)
    service.socketClosed(connection.id)
  })
}
