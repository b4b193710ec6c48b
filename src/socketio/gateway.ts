/**
 * `/socket.io/`: the Socket.IO v4 transport of the realtime dispatcher, for the documents' own clients
 * (socket.io-client, python-socketio) over WebSocket, HTTP long-polling and upgrade. The protocol is the
 * `socket.io` server on `@socket.io/bun-engine`; this adapter only authenticates the handshake, turns each
 * event into a `dispatch` call and sends the answer back (to the acknowledgement callback when there is one).
 *
 * Bun has one WebSocket handler per server and Elysia owns it: it calls the `open`/`message`/`close` functions
 * found in each socket's `data`. The engine's upgrades are therefore made with those functions in `data`, pointing
 * at the engine, so `/ws` and Socket.IO share the server without either seeing the other's sockets.
 */
import { Server as Engine } from '@socket.io/bun-engine'
import type { Server as BunServer, ServerWebSocket } from 'bun'
import { Elysia } from 'elysia'
import { type DefaultEventsMap, type Socket, Server as SocketIoServer } from 'socket.io'
import { type Identity, InvalidTokenError } from '../identity/tokens.ts'
import { metrics } from '../platform/metrics.ts'
import type { Answer, ClientLink, Dispatcher } from '../realtime/dispatcher.ts'
import type { OutgoingMessage } from '../realtime/rooms.ts'

const SOCKET_IO_PATH = '/socket.io/'
/** Packets waiting for a long-polling client's next request before it counts as too slow. */
const MAX_QUEUED_POLLING_PACKETS = 1024
/** The largest long-polling body for a message of `bytes`: base64 makes binary 4/3 larger, plus packet framing. */
const pollingLimit = (bytes: number) => Math.ceil((bytes * 4) / 3) + 64 * 1024
/** A credential that is there but cannot be a token (not a string, not a Bearer header). */
const MALFORMED = Symbol('malformed credential')

interface SocketData {
  identity: Identity | null
}
type IoSocket = Socket<DefaultEventsMap, DefaultEventsMap, DefaultEventsMap, SocketData>
type EngineSocket = Parameters<Parameters<Engine['on']>[1]>[0]
type UpgradeOptions = { headers?: HeadersInit; data: Record<string, unknown> }

/** The handshake's token: `auth.token`, else `Authorization: Bearer`, else `?token=`. */
function tokenOf(handshake: IoSocket['handshake']): string | undefined | typeof MALFORMED {
  const auth = handshake.auth as Record<string, unknown> | undefined
  if (auth && 'token' in auth) return typeof auth.token === 'string' ? auth.token : MALFORMED
  const header = handshake.headers.authorization
  if (header) return /^Bearer\s+(\S+)\s*$/i.exec(header)?.[1] ?? MALFORMED
  return firstOf(handshake.query.token)
}

function firstOf(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value
}

/** A refused handshake: the client's `connect_error` says why in `message` and carries `{code, message}` in `data`. */
function refusal(err: unknown): Error {
  const expired = err instanceof InvalidTokenError && err.expired
  const refused = new Error(expired ? 'TOKEN_EXPIRED' : 'UNAUTHORIZED') as Error & { data: unknown }
  refused.data = {
    code: expired ? 'TOKEN_EXPIRED' : 'UNAUTHORIZED',
    message: expired ? 'The token has expired' : 'Invalid token',
  }
  return refused
}

class SocketIoLink implements ClientLink {
  readonly transport = 'socket.io'
  readonly query: Readonly<Record<string, string | undefined>>

  constructor(
    private readonly socket: IoSocket,
    readonly remoteAddress: string,
    private readonly maxBufferedBytes: number,
  ) {
    this.query = Object.fromEntries(
      Object.entries(socket.handshake.query).map(([key, value]) => [key, firstOf(value)]),
    )
  }

  get id(): string {
    return this.socket.id
  }

  deliver(message: OutgoingMessage): boolean {
    if (!this.socket.connected) return false
    if (this.tooSlow()) {
      metrics.wsSlowClientsDisconnected.inc()
      this.socket.disconnect(true)
      return false
    }
    this.socket.emit(message.event, message.data)
    return true
  }

  close(): void {
    this.socket.disconnect(true)
  }

  /** Over WebSocket, bytes Bun could not send yet; over long-polling, packets the client has not fetched. */
  private tooSlow(): boolean {
    const conn = this.socket.conn as unknown as {
      writeBuffer: unknown[]
      transport: { socket?: ServerWebSocket<unknown> }
    }
    const buffered = conn.transport.socket?.getBufferedAmount() ?? 0
    return buffered > this.maxBufferedBytes || conn.writeBuffer.length > MAX_QUEUED_POLLING_PACKETS
  }
}

export class SocketIoGateway {
  private readonly engine: Engine
  private readonly io: SocketIoServer<DefaultEventsMap, DefaultEventsMap, DefaultEventsMap, SocketData>
  /** The client address of each handshake request, then of each engine connection (Bun forgets it at the upgrade). */
  private readonly requestAddresses = new WeakMap<Request, string>()
  private readonly addresses = new WeakMap<object, string>()

  constructor(private readonly dispatcher: Dispatcher) {
    const { maxMessageBytes } = dispatcher.limits
    this.engine = new Engine({ path: SOCKET_IO_PATH, maxHttpBufferSize: pollingLimit(maxMessageBytes) })
    this.io = new SocketIoServer({ serveClient: false, connectTimeout: 10_000 })
    this.io.bind(this.engine)
    this.engine.on('connection', (socket: EngineSocket, request: Request) => {
      this.addresses.set(socket, this.requestAddresses.get(request) ?? '')
    })
    this.io.use((socket, next) => {
      const token = tokenOf(socket.handshake)
      if (token === MALFORMED) return next(refusal(new InvalidTokenError(false)))
      this.dispatcher.identify(token).then(
        (identity) => {
          socket.data.identity = identity
          next()
        },
        (err) => next(refusal(err)),
      )
    })
    this.io.on('connection', (socket) => this.connected(socket))
  }

  private connected(socket: IoSocket): void {
    const link = new SocketIoLink(
      socket,
      this.addresses.get(socket.conn) ?? '',
      this.dispatcher.limits.maxBufferedBytes,
    )
    const connection = this.dispatcher.connect(link, socket.data.identity)
    socket.onAny(async (event: unknown, ...args: unknown[]) => {
      const ack =
        typeof args.at(-1) === 'function' ? (args.pop() as (...reply: unknown[]) => void) : undefined
      const answer = await this.dispatcher.dispatch(connection, event, args[0])
      this.answer(socket, answer, ack)
    })
    socket.on('disconnect', () => this.dispatcher.disconnect(connection))
  }

  /** The answer goes to the acknowledgement callback when the client passed one, else as an event. */
  private answer(socket: IoSocket, answer: Answer | undefined, ack?: (...reply: unknown[]) => void): void {
    if (ack) {
      if (answer) ack(answer.data)
      else ack()
    } else if (answer) {
      socket.emit(answer.event, answer.data)
    }
    if (answer?.close) socket.disconnect(true)
  }

  /** Engine.IO requests: the handshake, long-polling, and the upgrade to a WebSocket. */
  private handle(request: Request, server: BunServer<unknown>): Response | Promise<Response> {
    if (request.method === 'POST') {
      const length = Number(request.headers.get('content-length') ?? Number.NaN)
      if (!Number.isFinite(length)) return new Response(null, { status: 411 })
      if (length > this.engine.opts.maxHttpBufferSize) return new Response(null, { status: 413 })
    }
    this.requestAddresses.set(request, server.requestIP(request)?.address ?? '')
    return this.engine.handleRequest(request, this.routedUpgrades(server) as never)
  }

  /** The Bun server as the engine sees it: its WebSockets' events come back to the engine through Elysia. */
  private routedUpgrades(server: BunServer<unknown>) {
    const engine = this.engine
    const maxBytes = this.dispatcher.limits.maxMessageBytes
    type EngineWebSocket = Parameters<Engine['onWebSocketOpen']>[0]
    return {
      upgrade: (request: Request, options: UpgradeOptions) =>
        server.upgrade(request, {
          headers: options.headers,
          data: {
            ...options.data,
            open: (ws: EngineWebSocket) => engine.onWebSocketOpen(ws),
            message: (ws: EngineWebSocket, message: string | Buffer) => {
              const bytes = typeof message === 'string' ? Buffer.byteLength(message) : message.byteLength
              if (bytes > maxBytes) ws.close(1009, `messages are limited to ${maxBytes} bytes`)
              else engine.onWebSocketMessage(ws, message)
            },
            close: (ws: EngineWebSocket, code: number, reason: string) =>
              engine.onWebSocketClose(ws, code, reason),
          },
        }),
    }
  }

  /** The Elysia plugin serving `/socket.io/`. */
  plugin() {
    return new Elysia({ name: 'socket-io-gateway' }).all(SOCKET_IO_PATH, ({ request, server }) =>
      server ? this.handle(request, server) : new Response(null, { status: 503 }),
    )
  }
}
