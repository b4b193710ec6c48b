/**
 * Surfaces that carry `{event, data}` messages rather than requests: `/ws` and Socket.IO (`/socket.io/`), both
 * adapters of the one realtime dispatcher. Each is a `MessageSurface` (connect with a query, send events, collect
 * what comes back, close); the same cases and invariants cover every entry of `messageSurfaces`.
 */
import fc from 'fast-check'
import { io } from 'socket.io-client'
import { SocketPayloads as livestreamPayloads } from '../../src/livestream/model.ts'
import { SocketPayloads as playbackPayloads } from '../../src/playback/model.ts'
import { fromSchema, hostileText, type JsonSchema, plausibleValue } from './hostile.ts'
import type { Credentials } from './http-surface.ts'

/** A message a client sends: a well-formed envelope, raw text, or binary bytes. */
export type ClientMessage =
  | { kind: 'event'; event: string; data: unknown }
  | { kind: 'text'; text: string }
  | { kind: 'binary'; bytes: Uint8Array }

export interface MessageCase {
  /** Connection parameters (`?token=`, `?device=`, `?streamKey=`): hostile or plausible. */
  query: Record<string, string>
  messages: ClientMessage[]
}

/** One frame the server sent. */
export interface ServerFrame {
  event: string
  data: unknown
}

export interface MessageOutcome {
  /** Whether the connection opened at all (a hostile query may be refused before the upgrade). */
  opened: boolean
  frames: ServerFrame[]
  /** The close code, when the server closed the connection. */
  closeCode?: number
}

export interface MessageSurface {
  name: string
  /** Connects, sends every message, waits until the server has answered them all (or `timeoutMs`), closes. */
  exchange(baseUrl: string, testCase: MessageCase, timeoutMs: number): Promise<MessageOutcome>
}

/** The events the server handles, with their schemas: new ones in these maps are fuzzed too. */
const EVENTS: Record<string, JsonSchema> = { ...playbackPayloads, ...livestreamPayloads } as Record<
  string,
  JsonSchema
>
/** An event no feature handles: its `UNKNOWN_EVENT` answer marks the end of a case's answers. */
const SYNC_EVENT = 'fuzz-sync'

export function messageCase(credentials: Credentials, ids: string[]): fc.Arbitrary<MessageCase> {
  const event = fc.oneof(
    { weight: 8, arbitrary: fc.constantFrom(...Object.keys(EVENTS)) },
    { weight: 1, arbitrary: hostileText },
  )
  const message: fc.Arbitrary<ClientMessage> = fc.oneof(
    {
      weight: 8,
      arbitrary: event.chain((name) =>
        fromSchema(EVENTS[name]).map((data) => ({ kind: 'event' as const, event: name, data })),
      ),
    },
    {
      weight: 1,
      arbitrary: fc
        .oneof(
          hostileText,
          fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)),
        )
        .map((text) => ({ kind: 'text' as const, text })),
    },
    {
      weight: 1,
      arbitrary: fc.uint8Array({ maxLength: 256 }).map((bytes) => ({ kind: 'binary' as const, bytes })),
    },
  )
  return fc.record({
    query: fc.record(
      {
        token: fc.oneof(
          fc.constantFrom(credentials.user, credentials.admin, credentials.expired, credentials.forged),
          hostileText,
        ),
        device: fc.oneof(plausibleValue, hostileText),
        streamKey: fc.oneof(fc.constantFrom(...ids), plausibleValue, hostileText),
      },
      { requiredKeys: [] },
    ),
    messages: fc.array(message, { minLength: 1, maxLength: 8 }),
  })
}

/** What is wrong with the frames a case got back (empty when nothing is). */
export function messageViolations(outcome: MessageOutcome): string[] {
  const problems: string[] = []
  for (const frame of outcome.frames) {
    const data = frame.data as Record<string, unknown> | null
    if (typeof frame.event !== 'string')
      problems.push(`a frame without an event name: ${JSON.stringify(frame)}`)
    if (frame.event === 'error') {
      if (typeof data?.code !== 'string' || typeof data.message !== 'string')
        problems.push(`an error event not shaped {code, message}: ${JSON.stringify(frame)}`)
      else if (data.code === 'INTERNAL') problems.push(`an internal error: ${JSON.stringify(frame)}`)
    }
    if (frame.event === 'stream-error' && (typeof data?.code !== 'string' || typeof data.error !== 'string'))
      problems.push(`a stream-error not shaped {error, code, streamKey}: ${JSON.stringify(frame)}`)
  }
  // 1011: the server met an unexpected condition.
  if (outcome.closeCode === 1011) problems.push('closed with 1011 (internal error)')
  return problems
}

/** `/ws`: JSON text frames `{event, data}`, binary frames as they are. */
export const webSocketSurface: MessageSurface = {
  name: 'ws',
  exchange(baseUrl, testCase, timeoutMs) {
    const url = new URL('/ws', baseUrl.replace(/^http/, 'ws'))
    for (const [key, value] of Object.entries(testCase.query)) url.searchParams.set(key, value)
    const outcome: MessageOutcome = { opened: false, frames: [] }
    return new Promise((resolve) => {
      const socket = new WebSocket(url.toString())
      socket.binaryType = 'arraybuffer'
      const finish = () => {
        clearTimeout(timer)
        if (socket.readyState === WebSocket.OPEN || socket.readyState === WebSocket.CONNECTING) socket.close()
        resolve(outcome)
      }
      const timer = setTimeout(finish, timeoutMs)
      socket.onopen = () => {
        outcome.opened = true
        for (const message of testCase.messages) {
          if (message.kind === 'event')
            socket.send(JSON.stringify({ event: message.event, data: message.data }))
          else if (message.kind === 'text') socket.send(message.text)
          else socket.send(message.bytes)
        }
        socket.send(JSON.stringify({ event: SYNC_EVENT, data: {} }))
      }
      socket.onmessage = (message) => {
        const frame = JSON.parse(String(message.data)) as ServerFrame
        outcome.frames.push(frame)
        const data = frame.data as { message?: string } | null
        // Handlers may answer after the sync event's error; give them a moment, then close.
        if (frame.event === 'error' && data?.message?.includes(SYNC_EVENT)) setTimeout(finish, 25)
      }
      socket.onclose = (event) => {
        outcome.closeCode = event.code
        finish()
      }
    })
  },
}

/**
 * Socket.IO v4 through socket.io-client over WebSocket: the token in the handshake's `auth`, the rest of the query
 * in its query string; events are emitted as they are, raw text as the data of an event named by it, binary bytes
 * as a `stream-data` attachment.
 */
export const socketIoSurface: MessageSurface = {
  name: 'socket.io',
  exchange(baseUrl, testCase, timeoutMs) {
    const { token, ...hostile } = testCase.query
    // socket.io-client percent-encodes the query itself and throws on a lone surrogate: send U+FFFD instead, which
    // the server must refuse just the same.
    const query = Object.fromEntries(
      Object.entries(hostile).map(([key, value]) => [key, value.toWellFormed()]),
    )
    const outcome: MessageOutcome = { opened: false, frames: [] }
    return new Promise((resolve) => {
      const socket = io(baseUrl, {
        reconnection: false,
        forceNew: true,
        transports: ['websocket'],
        auth: token === undefined ? {} : { token },
        query,
      })
      const finish = () => {
        clearTimeout(timer)
        socket.disconnect()
        resolve(outcome)
      }
      const timer = setTimeout(finish, timeoutMs)
      socket.onAny((event: string, data: unknown) => {
        outcome.frames.push({ event, data })
        const message = (data as { message?: unknown } | null)?.message
        if (event === 'error' && typeof message === 'string' && message.includes(SYNC_EVENT))
          setTimeout(finish, 25)
      })
      // A refused handshake (a hostile query, a bad token) is an answer, not a fault.
      socket.on('connect_error', finish)
      socket.on('disconnect', finish)
      socket.on('connect', () => {
        outcome.opened = true
        for (const message of testCase.messages) {
          if (message.kind === 'event') socket.emit(message.event, message.data)
          else if (message.kind === 'text') socket.emit(message.text.slice(0, 64) || 'text', message.text)
          else socket.emit('stream-data', message.bytes)
        }
        socket.emit(SYNC_EVENT, {})
      })
    })
  },
}

/** Every message surface the suite fuzzes. */
export const messageSurfaces: MessageSurface[] = [webSocketSurface, socketIoSurface]
