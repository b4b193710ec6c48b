import { t } from 'elysia'
import { GuardedString } from '../http/input-guard.ts'
import { STREAM_KEY_PATTERN } from './service.ts'

const StreamKey = t.String({ pattern: STREAM_KEY_PATTERN })
/** Display labels only: identity always comes from the token. */
const UserId = GuardedString({ minLength: 1, maxLength: 128 })
const SessionId = t.String({ pattern: STREAM_KEY_PATTERN })
/** Base64 of at most the dispatcher's 4 MiB message. */
const Base64Chunk = t.String({ minLength: 1, maxLength: 6 * 1024 * 1024, pattern: '^[A-Za-z0-9+/]*={0,2}$' })
/** The bytes themselves, as a Socket.IO binary attachment (a Buffer, ArrayBuffer or Blob on the client). */
const BinaryChunk = t.Uint8Array({ minByteLength: 1, maxByteLength: 4 * 1024 * 1024 })

/** Realtime payloads (livestream-api.md); `streamKey` may instead come from the connection's `?streamKey=`. */
export const SocketPayloads = {
  'start-stream': t.Object({ userId: t.Optional(UserId), streamKey: t.Optional(StreamKey) }),
  'stream-data': t.Object({ streamKey: t.Optional(StreamKey), chunk: t.Union([Base64Chunk, BinaryChunk]) }),
  'join-stream': t.Object({
    streamKey: t.Optional(StreamKey),
    userId: t.Optional(UserId),
    sessionId: t.Optional(SessionId),
  }),
  'end-stream': t.Object({ streamKey: t.Optional(StreamKey), userId: t.Optional(UserId) }),
  'leave-stream': t.Object({ streamKey: t.Optional(StreamKey) }),
}

export const StreamParams = t.Object({ streamId: StreamKey })
export const FileParams = t.Object({ streamId: StreamKey, file: t.String({ maxLength: 64 }) })

export const StartBody = t.Object({
  userId: t.Optional(UserId),
  action: t.Literal('start'),
  timestamp: t.Number(),
  title: t.Optional(GuardedString({ maxLength: 200 })),
  description: t.Optional(GuardedString({ maxLength: 2000 })),
})

export const StopBody = t.Object({
  userId: t.Optional(UserId),
  action: t.Literal('stop'),
  timestamp: t.Number(),
})

/** `session` counts an HLS player; `_HLS_msn`/`_HLS_part` ask ll.m3u8 for a blocking reload (checked by the handler). */
export const PlaylistQuery = t.Object({
  session: t.Optional(t.String({ maxLength: 64 })),
  _HLS_msn: t.Optional(t.String({ maxLength: 16 })),
  _HLS_part: t.Optional(t.String({ maxLength: 16 })),
  _HLS_skip: t.Optional(t.String({ maxLength: 16 })),
})
