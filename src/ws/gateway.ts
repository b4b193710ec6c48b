/**
 * `/ws`: the plain WebSocket transport of the realtime dispatcher. Text frames are JSON envelopes
 * `{"event", "data"}` both ways; binary frames go to the feature the socket claimed. The token comes as `?token=`;
 * a bad one gets `error INVALID_TOKEN` and close code 4401. Everything else (handlers, validation, rate limit,
 * rooms) is the dispatcher's.
 */
import type { ServerWebSocket } from 'bun'
import { Elysia, t } from 'elysia'
import { TypeCompiler } from 'elysia/type-system'
import { metrics } from '../platform/metrics.ts'
import {
  type Answer,
  type ClientLink,
  type Connection,
  type Dispatcher,
  errorAnswer,
} from '../realtime/dispatcher.ts'
import { OutgoingMessage } from '../realtime/rooms.ts'

/** Close code for a socket that presented an invalid or expired token. */
export const CLOSE_INVALID_TOKEN = 4401

const Envelope = TypeCompiler.Compile(
  t.Object({ event: t.String({ minLength: 1, maxLength: 64 }), data: t.Optional(t.Unknown()) }),
)

/** A frame's size on the wire; Elysia hands text frames over already JSON-parsed. */
function frameBytes(raw: unknown): number {
  if (raw instanceof Uint8Array || raw instanceof ArrayBuffer) return raw.byteLength
  if (typeof raw === 'string') return Buffer.byteLength(raw)
  return Buffer.byteLength(JSON.stringify(raw) ?? '')
}

class WebSocketLink implements ClientLink {
  readonly transport = 'ws'
  readonly remoteAddress: string

  constructor(
    readonly id: string,
    private readonly socket: ServerWebSocket<unknown>,
    readonly query: Readonly<Record<string, string | undefined>>,
    private readonly maxBufferedBytes: number,
  ) {
    this.remoteAddress = socket.remoteAddress
  }

  deliver(message: OutgoingMessage): boolean {
    if (this.socket.readyState !== WebSocket.OPEN) return false
    if (this.socket.getBufferedAmount() > this.maxBufferedBytes) {
      metrics.wsSlowClientsDisconnected.inc()
      this.close(1013, 'client too slow')
      return false
    }
    return this.socket.send(message.json) > 0
  }

  close(code: number, reason: string): void {
    if (this.socket.readyState === WebSocket.OPEN) this.socket.close(code, reason)
  }
}

/** A socket until its token is checked: frames wait for `ready` so none is handled as anonymous by mistake. */
interface Pending {
  link: WebSocketLink
  ready: Promise<Connection | null>
  connection: Connection | null
}

export class WsGateway {
  private readonly sockets = new Map<string, Pending>()

  constructor(private readonly dispatcher: Dispatcher) {}

  private open(
    socket: ServerWebSocket<unknown>,
    id: string,
    query: Record<string, string | undefined>,
  ): void {
    const link = new WebSocketLink(id, socket, query, this.dispatcher.limits.maxBufferedBytes)
    const pending: Pending = { link, connection: null, ready: Promise.resolve(null) }
    this.sockets.set(id, pending)
    pending.ready = this.dispatcher.identify(query.token).then(
      (identity) => {
        // The socket may have closed while its token was checked.
        if (!this.sockets.has(id)) return null
        pending.connection = this.dispatcher.connect(link, identity)
        return pending.connection
      },
      () => {
        this.answer(link, errorAnswer('INVALID_TOKEN', 'Invalid or expired token'))
        link.close(CLOSE_INVALID_TOKEN, 'invalid token')
        return null
      },
    )
  }

  private async message(id: string, raw: unknown): Promise<void> {
    const pending = this.sockets.get(id)
    const connection = await pending?.ready
    if (!pending || !connection) return
    const limit = this.dispatcher.limits.maxMessageBytes
    if (frameBytes(raw) > limit) {
      connection.close(1009, `frames are limited to ${limit} bytes`)
      return
    }
    let answer: Answer | undefined
    if (raw instanceof Uint8Array || raw instanceof ArrayBuffer) {
      answer = await this.dispatcher.dispatchBinary(
        connection,
        raw instanceof Uint8Array ? raw : new Uint8Array(raw),
      )
    } else if (Envelope.Check(raw)) {
      // Elysia has already JSON-parsed text frames that look like JSON; anything else stays a string.
      answer = await this.dispatcher.dispatch(connection, raw.event, raw.data)
    } else {
      answer = errorAnswer('INVALID_MESSAGE', 'Expected a JSON text frame {"event": string, "data": object}')
    }
    if (answer) this.answer(pending.link, answer)
  }

  private answer(link: WebSocketLink, answer: Answer): void {
    link.deliver(new OutgoingMessage(answer.event, answer.data))
    if (answer.close) link.close(answer.close.code, answer.close.reason)
  }

  private closed(id: string): void {
    const pending = this.sockets.get(id)
    if (!pending) return
    this.sockets.delete(id)
    if (pending.connection) this.dispatcher.disconnect(pending.connection)
  }

  /** The Elysia plugin serving `/ws`. */
  plugin() {
    return new Elysia({ name: 'ws-gateway' }).ws('/ws', {
      query: t.Object({ token: t.Optional(t.String()) }, { additionalProperties: true }),
      idleTimeout: 120,
      // Frames are dispatched raw: the envelope is validated here to answer in the CONTRACT error shape.
      open: (ws) => this.open(ws.raw as ServerWebSocket<unknown>, ws.id, ws.data.query),
      message: (ws, message) => this.message(ws.id, message),
      close: (ws) => this.closed(ws.id),
    })
  }
}
