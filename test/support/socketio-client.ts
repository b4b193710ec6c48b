import { io, type ManagerOptions, type Socket, type SocketOptions } from 'socket.io-client'
import type { Frame } from './ws-client.ts'

/**
 * A real socket.io-client v4 socket that records every event it receives (as `{event, data}`, like WsClient) and
 * can wait for one. `socket` is the client itself, for code written as the documents write it.
 */
export class SioRecorder {
  readonly frames: Frame[] = []
  private waiters: Array<() => void> = []

  constructor(readonly socket: Socket) {
    socket.onAny((event: string, data: unknown) => {
      this.frames.push({ event, data: data as Record<string, unknown> })
      this.wake()
    })
    socket.on('disconnect', () => this.wake())
  }

  /** Connects to `base` (http://host:port) and resolves once connected; rejects with the `connect_error`. */
  static async connect(
    base: string,
    options: Partial<ManagerOptions & SocketOptions> = {},
  ): Promise<SioRecorder> {
    const recorder = new SioRecorder(io(base, { reconnection: false, forceNew: true, ...options }))
    await recorder.connected()
    return recorder
  }

  connected(): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.socket.connected) return resolve()
      this.socket.once('connect', () => resolve())
      this.socket.once('connect_error', reject)
    })
  }

  /** The first recorded event (from index `from`) matching; throws after `timeoutMs`. */
  async next(match: (f: Frame) => boolean, timeoutMs = 10_000, from = 0): Promise<Frame> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const found = this.frames.slice(from).find(match)
      if (found) return found
      if (Date.now() > deadline || this.socket.disconnected) {
        throw new Error(`no matching event; got ${JSON.stringify(this.frames.slice(from)).slice(0, 2000)}`)
      }
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve)
        setTimeout(resolve, 50)
      })
    }
  }

  /** The next `event` arriving after now (optionally one whose data satisfies `where`). */
  nextEvent(
    event: string,
    where: (data: Record<string, unknown>) => boolean = () => true,
    timeoutMs?: number,
  ) {
    return this.next((f) => f.event === event && where(f.data), timeoutMs, this.frames.length)
  }

  events(event: string): Array<Record<string, unknown>> {
    return this.frames.filter((f) => f.event === event).map((f) => f.data)
  }

  close(): void {
    this.socket.disconnect()
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w()
  }
}
