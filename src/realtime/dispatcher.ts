/**
 * The one realtime dispatcher. Features register their client events here once (`on`, with a schema and whether a
 * token is needed); transport adapters (`/ws` in src/ws/gateway.ts, Socket.IO in src/socketio/gateway.ts) decode
 * frames, call `dispatch` with (connection, event name, payload) and send back the answer it returns. Validation,
 * the per-connection rate limit, identity, rooms and typed-error mapping live here, so both transports behave
 * the same and a connection on one hears what is published by a handler running for the other.
 */
import { type Static, type TSchema, t } from 'elysia'
import { type TypeCheck, TypeCompiler } from 'elysia/type-system'
import { type Identity, InvalidTokenError, type TokenService } from '../identity/tokens.ts'
import { AppError } from '../platform/errors.ts'
import { log } from '../platform/log.ts'
import { metrics } from '../platform/metrics.ts'
import { OutgoingMessage, type RoomBroker } from './rooms.ts'

/** Per-connection limits, the same on every transport; exceeding them is answered, never buffered without bound. */
export interface RealtimeLimits {
  /** Largest message accepted; a larger one closes the connection (1009 on `/ws`). */
  maxMessageBytes: number
  /** Sustained messages per second per connection, with a burst of twice that. */
  messagesPerSecond: number
  /** Bytes queued for a slow client before it is disconnected (1013 on `/ws`). */
  maxBufferedBytes: number
}

export const DEFAULT_REALTIME_LIMITS: RealtimeLimits = {
  maxMessageBytes: 4 * 1024 * 1024,
  messagesPerSecond: 200,
  maxBufferedBytes: 8 * 1024 * 1024,
}

/** What an adapter gives the dispatcher for one client connection. */
export interface ClientLink {
  readonly id: string
  readonly transport: 'ws' | 'socket.io'
  /** The client's IP address, for per-IP limits. */
  readonly remoteAddress: string
  /** The query string the client connected with (e.g. `?streamKey=`, `?device=`). */
  readonly query: Readonly<Record<string, string | undefined>>
  /** Hands one message to the client; false when dropped (closed, or too slow and therefore disconnected). */
  deliver(message: OutgoingMessage): boolean
  close(code: number, reason: string): void
}

/** One client connection as features see it, whatever its transport. */
export interface Connection {
  readonly id: string
  readonly transport: ClientLink['transport']
  /** The token's identity, or null for an anonymous connection. */
  readonly identity: Identity | null
  readonly remoteAddress: string
  readonly query: Readonly<Record<string, string | undefined>>
  /** Pushes `event` to this connection alone; false when it was dropped. */
  send(event: string, data: unknown): boolean
  close(code?: number, reason?: string): void
  /** Routes this connection's raw binary frames to `feature` (e.g. the livestream it broadcasts). */
  claim(feature: string): void
  readonly claimedBy: string | undefined
}

/**
 * A handler's direct answer to the connection that sent the event: an event on `/ws` and on Socket.IO, or the
 * acknowledgement's argument when the Socket.IO client passed a callback. `close` closes the connection after it.
 */
export interface Answer {
  event: string
  data: unknown
  close?: { code: number; reason: string }
}

export type Handler<T> = (connection: Connection, data: T) => Answer | undefined | Promise<Answer | undefined>
type BinaryHandler = (connection: Connection, bytes: Uint8Array) => Promise<Answer | undefined>
type ConnectionHandler = (connection: Connection) => void

interface Registration {
  check: TypeCheck<TSchema>
  /** `required`: anonymous connections get an `error` answer and nothing happens. */
  auth: 'required' | 'optional'
  handle: Handler<unknown>
}

/** The generic error answer `error {code, message}`. */
export function errorAnswer(code: string, message: string): Answer {
  return { event: 'error', data: { code, message } }
}

/** The room of a single connection, so a message can reach it wherever it is connected. */
export function connectionRoom(id: string): string {
  return `connection_${id}`
}

const EventName = TypeCompiler.Compile(t.String({ minLength: 1, maxLength: 64 }))

class LinkedConnection implements Connection {
  claimedBy: string | undefined
  private tokens: number
  private lastRefill = performance.now()

  constructor(
    readonly link: ClientLink,
    readonly identity: Identity | null,
    private readonly limits: RealtimeLimits,
  ) {
    this.tokens = limits.messagesPerSecond * 2
  }

  get id() {
    return this.link.id
  }
  get transport() {
    return this.link.transport
  }
  get remoteAddress() {
    return this.link.remoteAddress
  }
  get query() {
    return this.link.query
  }

  /** Room membership delivers through the link. */
  deliver(message: OutgoingMessage): boolean {
    return this.link.deliver(message)
  }

  send(event: string, data: unknown): boolean {
    return this.link.deliver(new OutgoingMessage(event, data))
  }

  close(code = 1000, reason = ''): void {
    this.link.close(code, reason)
  }

  claim(feature: string): void {
    this.claimedBy = feature
  }

  /** Token bucket: false when the client sends faster than the limit allows. */
  takeToken(): boolean {
    const now = performance.now()
    const rate = this.limits.messagesPerSecond
    this.tokens = Math.min(rate * 2, this.tokens + ((now - this.lastRefill) / 1000) * rate)
    this.lastRefill = now
    if (this.tokens < 1) return false
    this.tokens -= 1
    return true
  }
}

export class Dispatcher {
  private readonly handlers = new Map<string, Registration>()
  private readonly binaryHandlers = new Map<string, BinaryHandler>()
  private readonly openHandlers: ConnectionHandler[] = []
  private readonly closeHandlers: ConnectionHandler[] = []
  private readonly connections = new Map<string, LinkedConnection>()

  constructor(
    private readonly tokens: TokenService,
    private readonly rooms: RoomBroker,
    readonly limits: RealtimeLimits = DEFAULT_REALTIME_LIMITS,
  ) {}

  /** Registers the handler for client event `event`; `schema` validates its payload. */
  on<T extends TSchema>(
    event: string,
    schema: T,
    options: { auth: 'required' | 'optional' },
    handle: Handler<Static<T>>,
  ): void {
    if (this.handlers.has(event)) throw new Error(`realtime event "${event}" already has a handler`)
    this.handlers.set(event, {
      check: TypeCompiler.Compile(schema),
      auth: options.auth,
      handle: handle as Handler<unknown>,
    })
  }

  /** Raw binary frames (a transport without events around its bytes) from connections that `claim(feature)`. */
  onBinary(feature: string, handle: BinaryHandler): void {
    this.binaryHandlers.set(feature, handle)
  }

  /** Runs for every connection once its identity is known, before any of its events is handled. */
  onOpen(handle: ConnectionHandler): void {
    this.openHandlers.push(handle)
  }

  onClose(handle: ConnectionHandler): void {
    this.closeHandlers.push(handle)
  }

  /**
   * The identity behind `token`: null without one; InvalidTokenError (with `expired`) for a bad or expired one.
   * Adapters call it at their handshake.
   */
  async identify(token: string | undefined): Promise<Identity | null> {
    if (token === undefined || token === '') return null
    try {
      return await this.tokens.verify(token)
    } catch (err) {
      if (err instanceof InvalidTokenError) throw err
      throw new InvalidTokenError(false)
    }
  }

  /** Registers a client whose identity is settled; it joins its own room, then the open handlers run. */
  connect(link: ClientLink, identity: Identity | null): Connection {
    const connection = new LinkedConnection(link, identity, this.limits)
    this.connections.set(link.id, connection)
    this.rooms.join(connectionRoom(link.id), connection)
    metrics.wsConnections.inc()
    this.notify(this.openHandlers, connection, 'open')
    return connection
  }

  /** The client went away: it leaves every room, then the close handlers run. */
  disconnect(connection: Connection): void {
    const known = this.connections.get(connection.id)
    if (known !== connection) return
    this.connections.delete(connection.id)
    this.rooms.leaveAll(known)
    metrics.wsConnections.dec()
    this.notify(this.closeHandlers, known, 'close')
  }

  /** Puts the connection in `room` until it disconnects. */
  join(connection: Connection, room: string): void {
    const known = this.connections.get(connection.id)
    if (known) this.rooms.join(room, known)
  }

  /** Sends `event` to every connection in `room` on any transport; returns how many here it was handed to. */
  toRoom(room: string, event: string, data: unknown): number {
    return this.rooms.publish(room, new OutgoingMessage(event, data))
  }

  /** Sends `event` to the connection `id` (e.g. one an actor remembers), wherever it is connected. */
  sendTo(id: string, event: string, data: unknown): void {
    this.rooms.publish(connectionRoom(id), new OutgoingMessage(event, data))
  }

  get connectionCount(): number {
    return this.connections.size
  }

  /** Closes every connection (server shutdown: 1001 "going away"). */
  closeAll(code = 1001, reason = 'server shutting down'): void {
    for (const connection of this.connections.values()) connection.close(code, reason)
  }

  /**
   * Handles one client event: rate limit, known event, identity, payload validation, then the feature's handler.
   * Resolves to the answer for the sender (an `error` for anything refused), or undefined when there is none.
   * Never rejects.
   */
  async dispatch(connection: Connection, event: unknown, payload: unknown): Promise<Answer | undefined> {
    const known = this.admitted(connection)
    if (!known) return undefined
    if (!known.takeToken()) {
      return errorAnswer('RATE_LIMITED', `More than ${this.limits.messagesPerSecond} messages per second`)
    }
    if (!EventName.Check(event)) {
      return errorAnswer('INVALID_MESSAGE', 'The event name must be a string of 1 to 64 characters')
    }
    const registration = this.handlers.get(event)
    if (!registration) return errorAnswer('UNKNOWN_EVENT', `Unknown event "${event}"`)
    if (registration.auth === 'required' && !known.identity) {
      return errorAnswer('UNAUTHORIZED', `"${event}" needs a valid token`)
    }
    const data = payload ?? {}
    if (!registration.check.Check(data)) {
      const first = registration.check.Errors(data).First()
      const where = first?.path ? first.path.replace(/^\//, '').replaceAll('/', '.') : 'data'
      return errorAnswer(
        'INVALID_MESSAGE',
        `Invalid "${event}" data at ${where}: ${first?.message ?? 'invalid'}`,
      )
    }
    return this.run(known, () => registration.handle(known, data))
  }

  /** Handles a raw binary frame: rate limited like any message, then the claiming feature's handler. */
  async dispatchBinary(connection: Connection, bytes: Uint8Array): Promise<Answer | undefined> {
    const known = this.admitted(connection)
    if (!known) return undefined
    if (!known.takeToken()) {
      return errorAnswer('RATE_LIMITED', `More than ${this.limits.messagesPerSecond} messages per second`)
    }
    const handler = known.claimedBy ? this.binaryHandlers.get(known.claimedBy) : undefined
    if (!handler) {
      return errorAnswer(
        'UNEXPECTED_BINARY',
        'Binary frames are only accepted from a socket that is broadcasting',
      )
    }
    return this.run(known, () => handler(known, bytes))
  }

  private admitted(connection: Connection): LinkedConnection | undefined {
    const known = this.connections.get(connection.id)
    return known === connection ? known : undefined
  }

  /** Handler failures become an `error` answer; typed errors keep their code, anything else is logged. */
  private async run(
    connection: LinkedConnection,
    handle: () => Answer | undefined | Promise<Answer | undefined>,
  ): Promise<Answer | undefined> {
    try {
      return await handle()
    } catch (err) {
      if (err instanceof AppError) return errorAnswer(err.code, err.message)
      log.error({ err, connection: connection.id }, 'realtime handler failed')
      return errorAnswer('INTERNAL', 'Internal error')
    }
  }

  private notify(handlers: ConnectionHandler[], connection: LinkedConnection, what: string): void {
    for (const handle of handlers) {
      try {
        handle(connection)
      } catch (err) {
        log.error({ err, connection: connection.id }, `realtime ${what} handler failed`)
      }
    }
  }
}
