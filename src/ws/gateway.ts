import type { ServerWebSocket } from 'bun'
import { Elysia, type Static, type TSchema, t } from 'elysia'
import { type TypeCheck, TypeCompiler } from 'elysia/type-system'
import type { Identity, TokenService } from '../identity/tokens.ts'
import { AppError } from '../platform/errors.ts'
import { log } from '../platform/log.ts'
import { metrics } from '../platform/metrics.ts'

/** Per-connection limits; exceeding them is answered, never buffered without bound. */
export interface WsLimits {
  /** Largest frame accepted; a larger one closes the socket with 1009 (message too big). */
  maxMessageBytes: number
  /** Sustained messages per second per connection, with a burst of twice that. */
  messagesPerSecond: number
  /** Bytes queued for a slow client before it is disconnected (1013). */
  maxBufferedBytes: number
}

export const DEFAULT_WS_LIMITS: WsLimits = {
  maxMessageBytes: 4 * 1024 * 1024,
  messagesPerSecond: 200,
  maxBufferedBytes: 8 * 1024 * 1024,
}

/** Close code for a socket that presented an invalid or expired token. */
export const CLOSE_INVALID_TOKEN = 4401

/** One client socket as features see it. */
export interface WsConnection {
  readonly id: string
  /** The token's identity, or null for an anonymous socket. */
  readonly identity: Identity | null
  /** The client's IP address, for per-IP limits. */
  readonly remoteAddress: string
  /** The query string the socket connected with (e.g. `?streamKey=`). */
  readonly query: Readonly<Record<string, string | undefined>>
  /** Sends `{event, data}`; false when the client is too slow and the frame was dropped. */
  send(event: string, data: unknown): boolean
  sendError(code: string, message: string): void
  close(code?: number, reason?: string): void
  /** Routes this socket's binary frames to `feature` (e.g. the livestream it broadcasts). */
  claim(feature: string): void
  readonly claimedBy: string | undefined
}

interface EventHandler<T extends TSchema> {
  check: TypeCheck<T>
  /** `required`: anonymous sockets get an `error` event and nothing happens. */
  auth: 'required' | 'optional'
  handle(connection: WsConnection, data: Static<T>): void | Promise<void>
}

type BinaryHandler = (connection: WsConnection, bytes: Uint8Array) => void | Promise<void>
type ConnectionHandler = (connection: WsConnection) => void

const Envelope = TypeCompiler.Compile(
  t.Object({ event: t.String({ minLength: 1, maxLength: 64 }), data: t.Optional(t.Unknown()) }),
)

/** A frame's size on the wire; Elysia hands text frames over already JSON-parsed. */
function frameBytes(raw: unknown): number {
  if (raw instanceof Uint8Array || raw instanceof ArrayBuffer) return raw.byteLength
  if (typeof raw === 'string') return Buffer.byteLength(raw)
  return Buffer.byteLength(JSON.stringify(raw) ?? '')
}

interface SocketData {
  id: string
  query: Record<string, string | undefined>
}

class Connection implements WsConnection {
  identity: Identity | null = null
  claimedBy: string | undefined
  /** Resolves once the token (if any) is checked; frames wait for it so none is handled as anonymous by mistake. */
  ready: Promise<boolean> = Promise.resolve(true)
  /** The rooms this socket is in (see `WsGateway.join`). */
  readonly rooms = new Set<string>()
  private tokens: number
  private lastRefill = performance.now()

  readonly remoteAddress: string

  constructor(
    readonly id: string,
    private readonly socket: ServerWebSocket<unknown>,
    private readonly limits: WsLimits,
    readonly query: Readonly<Record<string, string | undefined>> = {},
  ) {
    this.tokens = limits.messagesPerSecond * 2
    this.remoteAddress = socket.remoteAddress
  }

  send(event: string, data: unknown): boolean {
    return this.sendFrame(JSON.stringify({ event, data }))
  }

  /** Sends an already serialized envelope. */
  sendFrame(frame: string): boolean {
    if (this.socket.readyState !== WebSocket.OPEN) return false
    if (this.socket.getBufferedAmount() > this.limits.maxBufferedBytes) {
      metrics.wsSlowClientsDisconnected.inc()
      this.close(1013, 'client too slow')
      return false
    }
    return this.socket.send(frame) > 0
  }

  sendError(code: string, message: string): void {
    this.send('error', { code, message })
  }

  close(code = 1000, reason = ''): void {
    if (this.socket.readyState === WebSocket.OPEN) this.socket.close(code, reason)
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

/**
 * The one WebSocket endpoint, `/ws`. It checks the optional `?token=`, parses and validates the
 * `{event, data}` envelope, enforces per-connection limits and dispatches to the handlers that
 * feature plugins register. Features never own `/ws` themselves.
 */
export class WsGateway {
  private readonly handlers = new Map<string, EventHandler<TSchema>>()
  private readonly binaryHandlers = new Map<string, BinaryHandler>()
  private readonly openHandlers: ConnectionHandler[] = []
  private readonly closeHandlers: ConnectionHandler[] = []
  private readonly connections = new Map<string, Connection>()
  private readonly rooms = new Map<string, Set<Connection>>()

  constructor(
    private readonly tokens: TokenService,
    readonly limits: WsLimits = DEFAULT_WS_LIMITS,
  ) {}

  /** Registers the handler for client event `event`; `schema` validates its `data`. */
  on<T extends TSchema>(
    event: string,
    schema: T,
    options: { auth: 'required' | 'optional' },
    handle: (connection: WsConnection, data: Static<T>) => void | Promise<void>,
  ): void {
    if (this.handlers.has(event)) throw new Error(`WebSocket event "${event}" already has a handler`)
    this.handlers.set(event, {
      check: TypeCompiler.Compile(schema),
      auth: options.auth,
      handle,
    } as EventHandler<TSchema>)
  }

  /** Binary frames from sockets that `claim(feature)` go to `handle`. */
  onBinary(feature: string, handle: BinaryHandler): void {
    this.binaryHandlers.set(feature, handle)
  }

  /** Runs for every socket once its token (if any) is verified, before any of its frames is handled. */
  onOpen(handle: ConnectionHandler): void {
    this.openHandlers.push(handle)
  }

  onClose(handle: ConnectionHandler): void {
    this.closeHandlers.push(handle)
  }

  /** Puts the socket in `room` until it closes. */
  join(connection: WsConnection, room: string): void {
    const member = this.connections.get(connection.id)
    if (!member) return
    member.rooms.add(room)
    const members = this.rooms.get(room)
    if (members) members.add(member)
    else this.rooms.set(room, new Set([member]))
  }

  /** Sends `{event, data}` (serialized once) to every socket in `room`; returns how many it was sent to. */
  toRoom(room: string, event: string, data: unknown): number {
    const members = this.rooms.get(room)
    if (!members) return 0
    const frame = JSON.stringify({ event, data })
    let sent = 0
    for (const member of members) if (member.sendFrame(frame)) sent += 1
    return sent
  }

  /** The open connection with this id, e.g. to deliver an event to a socket an actor remembers. */
  connection(id: string): WsConnection | undefined {
    return this.connections.get(id)
  }

  get connectionCount(): number {
    return this.connections.size
  }

  /** Closes every socket (server shutdown: 1001 "going away"). */
  closeAll(code = 1001, reason = 'server shutting down'): void {
    for (const connection of this.connections.values()) connection.close(code, reason)
  }

  private async open(socket: ServerWebSocket<unknown>, data: SocketData): Promise<void> {
    const connection = new Connection(data.id, socket, this.limits, data.query)
    this.connections.set(connection.id, connection)
    metrics.wsConnections.inc()
    const token = data.query.token
    if (token === undefined || token === '') {
      this.opened(connection)
      return
    }
    connection.ready = this.tokens.verify(token).then(
      (identity) => {
        connection.identity = identity
        this.opened(connection)
        return true
      },
      () => {
        connection.sendError('INVALID_TOKEN', 'Invalid or expired token')
        connection.close(CLOSE_INVALID_TOKEN, 'invalid token')
        return false
      },
    )
  }

  private async message(id: string, raw: unknown): Promise<void> {
    const connection = this.connections.get(id)
    if (!connection || !(await connection.ready)) return
    if (frameBytes(raw) > this.limits.maxMessageBytes) {
      connection.close(1009, `frames are limited to ${this.limits.maxMessageBytes} bytes`)
      return
    }
    if (!connection.takeToken()) {
      connection.sendError('RATE_LIMITED', `More than ${this.limits.messagesPerSecond} messages per second`)
      return
    }
    if (raw instanceof Uint8Array || raw instanceof ArrayBuffer) {
      const bytes = raw instanceof Uint8Array ? raw : new Uint8Array(raw)
      const handler = connection.claimedBy ? this.binaryHandlers.get(connection.claimedBy) : undefined
      if (!handler) {
        connection.sendError(
          'UNEXPECTED_BINARY',
          'Binary frames are only accepted from a socket that is broadcasting',
        )
        return
      }
      await this.run(connection, () => handler(connection, bytes))
      return
    }
    // Elysia has already JSON-parsed text frames that look like JSON; anything else stays a string.
    if (!Envelope.Check(raw)) {
      connection.sendError('INVALID_MESSAGE', 'Expected a JSON text frame {"event": string, "data": object}')
      return
    }
    const handler = this.handlers.get(raw.event)
    if (!handler) {
      connection.sendError('UNKNOWN_EVENT', `Unknown event "${raw.event}"`)
      return
    }
    if (handler.auth === 'required' && !connection.identity) {
      connection.sendError('UNAUTHORIZED', `"${raw.event}" needs a valid token: connect with /ws?token=<jwt>`)
      return
    }
    const payload = raw.data ?? {}
    if (!handler.check.Check(payload)) {
      const first = handler.check.Errors(payload).First()
      const where = first?.path ? first.path.replace(/^\//, '').replaceAll('/', '.') : 'data'
      connection.sendError(
        'INVALID_MESSAGE',
        `Invalid "${raw.event}" data at ${where}: ${first?.message ?? 'invalid'}`,
      )
      return
    }
    await this.run(connection, () => handler.handle(connection, payload))
  }

  /** Handler failures become an `error` event; typed errors keep their code, anything else is logged. */
  private async run(connection: Connection, fn: () => void | Promise<void>): Promise<void> {
    try {
      await fn()
    } catch (err) {
      if (err instanceof AppError) {
        connection.sendError(err.code, err.message)
      } else {
        log.error({ err, connection: connection.id }, 'WebSocket handler failed')
        connection.sendError('INTERNAL', 'Internal error')
      }
    }
  }

  private opened(connection: Connection): void {
    // The socket may have closed while its token was checked.
    if (!this.connections.has(connection.id)) return
    this.notify(this.openHandlers, connection, 'open')
  }

  private closed(id: string): void {
    const connection = this.connections.get(id)
    if (!connection) return
    this.connections.delete(id)
    metrics.wsConnections.dec()
    for (const room of connection.rooms) {
      const members = this.rooms.get(room)
      members?.delete(connection)
      if (members?.size === 0) this.rooms.delete(room)
    }
    this.notify(this.closeHandlers, connection, 'close')
  }

  private notify(handlers: ConnectionHandler[], connection: Connection, what: string): void {
    for (const handle of handlers) {
      try {
        handle(connection)
      } catch (err) {
        log.error({ err, connection: connection.id }, `WebSocket ${what} handler failed`)
      }
    }
  }

  /** The Elysia plugin serving `/ws`. */
  plugin() {
    return new Elysia({ name: 'ws-gateway', seed: this }).ws('/ws', {
      query: t.Object({ token: t.Optional(t.String()) }, { additionalProperties: true }),
      idleTimeout: 120,
      // Frames are dispatched raw: the gateway validates the envelope itself to answer in the CONTRACT error shape.
      open: (ws) => this.open(ws.raw as ServerWebSocket<unknown>, { id: ws.id, query: ws.data.query }),
      message: (ws, message) => this.message(ws.id, message),
      close: (ws) => this.closed(ws.id),
    })
  }
}
