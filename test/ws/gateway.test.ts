import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { Elysia, t } from 'elysia'
import { TokenService } from '../../src/identity/tokens.ts'
import { BadRequestError } from '../../src/platform/errors.ts'
import { Dispatcher } from '../../src/realtime/dispatcher.ts'
import { LocalRoomBroker } from '../../src/realtime/rooms.ts'
import { CLOSE_INVALID_TOKEN, WsGateway } from '../../src/ws/gateway.ts'

const tokens = new TokenService('gateway-test-secret-0123456789')
const dispatcher = new Dispatcher(tokens, new LocalRoomBroker(), {
  maxMessageBytes: 64 * 1024,
  messagesPerSecond: 20,
  maxBufferedBytes: 1 << 20,
})
const gateway = new WsGateway(dispatcher)
const binary: Array<{ user: string | undefined; bytes: number }> = []
const closed: string[] = []

dispatcher.on('echo', t.Object({ text: t.String({ maxLength: 100 }) }), { auth: 'optional' }, (c, data) => ({
  event: 'echoed',
  data: { text: data.text, userId: c.identity?.userId ?? null },
}))
dispatcher.on('whoami', t.Object({}), { auth: 'required' }, (c) => ({
  event: 'me',
  data: { userId: c.identity?.userId },
}))
dispatcher.on('broadcast', t.Object({}), { auth: 'required' }, (c) => {
  c.claim('test-stream')
  return { event: 'claimed', data: {} }
})
dispatcher.on('fail', t.Object({}), { auth: 'optional' }, () => {
  throw new BadRequestError('nope', 'TEST_FAILURE')
})
dispatcher.onBinary('test-stream', async (c, bytes) => {
  binary.push({ user: c.identity?.userId, bytes: bytes.byteLength })
  return { event: 'got-bytes', data: { bytes: bytes.byteLength } }
})
dispatcher.onClose((c) => closed.push(c.id))
const opened: Array<string | null> = []
dispatcher.onOpen((c) => {
  opened.push(c.identity?.userId ?? null)
  if (c.identity) dispatcher.join(c, `user:${c.identity.userId}`)
})
// A push to the room, then the answer: the sender hears both, in that order.
dispatcher.on('shout', t.Object({ text: t.String() }), { auth: 'required' }, (c, data) => {
  const sent = dispatcher.toRoom(`user:${c.identity?.userId}`, 'shouted', { text: data.text })
  return { event: 'shout-sent', data: { sent } }
})

let app: Elysia
let base: string
beforeAll(() => {
  app = new Elysia()
    .use(gateway.plugin())
    .listen({ port: 0, hostname: '127.0.0.1', reusePort: false }) as never
  base = `ws://127.0.0.1:${app.server?.port}/ws`
})
afterAll(() => app.stop(true))

/** A client that records every frame and the close. */
function connect(query = '') {
  const ws = new WebSocket(base + query)
  const frames: Array<{ event: string; data: Record<string, unknown> }> = []
  const waiters: Array<() => void> = []
  let closeEvent: CloseEvent | undefined
  ws.onmessage = (m) => {
    frames.push(JSON.parse(String(m.data)))
    for (const w of waiters.splice(0)) w()
  }
  ws.onclose = (e) => {
    closeEvent = e
    for (const w of waiters.splice(0)) w()
  }
  const opened = new Promise<void>((resolve, reject) => {
    ws.onopen = () => resolve()
    ws.onerror = () => reject(new Error('socket error'))
  })
  return {
    ws,
    frames,
    opened,
    send: (value: unknown) => ws.send(typeof value === 'string' ? value : JSON.stringify(value)),
    /** Waits until `n` frames arrived (or the socket closed). */
    async next(n = frames.length + 1) {
      const deadline = Date.now() + 5000
      while (frames.length < n && !closeEvent && Date.now() < deadline) {
        await new Promise<void>((resolve) => {
          waiters.push(resolve)
          setTimeout(resolve, 100)
        })
      }
      return frames[n - 1]
    },
    async closed() {
      const deadline = Date.now() + 5000
      while (!closeEvent && Date.now() < deadline) await Bun.sleep(10)
      return closeEvent
    },
  }
}

describe('WebSocket gateway /ws', () => {
  test('an anonymous socket can use optional events', async () => {
    const c = connect()
    await c.opened
    c.send({ event: 'echo', data: { text: 'hi' } })
    expect(await c.next()).toEqual({ event: 'echoed', data: { text: 'hi', userId: null } })
    c.ws.close()
  })

  test('a valid ?token= gives the socket its identity', async () => {
    const c = connect(`?token=${await tokens.sign({ userId: 'alice' }, 60)}`)
    await c.opened
    c.send({ event: 'whoami', data: {} })
    expect(await c.next()).toEqual({ event: 'me', data: { userId: 'alice' } })
    c.ws.close()
  })

  test('an invalid or expired token gets an error event, then close 4401', async () => {
    for (const token of ['garbage', await tokens.sign({ userId: 'old' }, -10)]) {
      const c = connect(`?token=${token}`)
      await c.opened
      const close = await c.closed()
      expect(c.frames[0]).toEqual({
        event: 'error',
        data: { code: 'INVALID_TOKEN', message: 'Invalid or expired token' },
      })
      expect(close?.code).toBe(CLOSE_INVALID_TOKEN)
    }
  })

  test('an anonymous socket gets an error for events that need a token, and nothing happens', async () => {
    const c = connect()
    await c.opened
    c.send({ event: 'whoami', data: {} })
    expect(await c.next()).toMatchObject({ event: 'error', data: { code: 'UNAUTHORIZED' } })
    c.ws.close()
  })

  test('malformed frames, unknown events and invalid data get error events; the socket stays usable', async () => {
    const c = connect()
    await c.opened
    c.send('not json at all')
    expect(await c.next(1)).toMatchObject({ event: 'error', data: { code: 'INVALID_MESSAGE' } })
    c.send('{"event": 42}')
    expect(await c.next(2)).toMatchObject({ event: 'error', data: { code: 'INVALID_MESSAGE' } })
    c.send({ event: 'nope', data: {} })
    expect(await c.next(3)).toMatchObject({ event: 'error', data: { code: 'UNKNOWN_EVENT' } })
    c.send({ event: 'echo', data: { text: 5 } })
    const invalid = await c.next(4)
    expect(invalid).toMatchObject({ event: 'error', data: { code: 'INVALID_MESSAGE' } })
    expect(String(invalid?.data.message)).toContain('text')
    c.send({ event: 'fail', data: {} })
    expect(await c.next(5)).toEqual({ event: 'error', data: { code: 'TEST_FAILURE', message: 'nope' } })
    c.send({ event: 'echo', data: { text: 'still here' } })
    expect(await c.next(6)).toMatchObject({ event: 'echoed', data: { text: 'still here' } })
    c.ws.close()
  })

  test('binary frames go only to the feature the socket claimed', async () => {
    const c = connect(`?token=${await tokens.sign({ userId: 'caster' }, 60)}`)
    await c.opened
    c.ws.send(new Uint8Array([1, 2, 3]))
    expect(await c.next(1)).toMatchObject({ event: 'error', data: { code: 'UNEXPECTED_BINARY' } })
    c.send({ event: 'broadcast', data: {} })
    expect(await c.next(2)).toEqual({ event: 'claimed', data: {} })
    c.ws.send(new Uint8Array(1000))
    expect(await c.next(3)).toEqual({ event: 'got-bytes', data: { bytes: 1000 } })
    expect(binary).toContainEqual({ user: 'caster', bytes: 1000 })
    c.ws.close()
  })

  test('a client over the message rate gets RATE_LIMITED errors and the extra frames are dropped', async () => {
    const c = connect()
    await c.opened
    for (let i = 0; i < 100; i++) c.send({ event: 'echo', data: { text: String(i) } })
    await c.next(100)
    const limited = c.frames.filter((f) => f.event === 'error' && f.data.code === 'RATE_LIMITED')
    const echoed = c.frames.filter((f) => f.event === 'echoed')
    expect(limited.length).toBeGreaterThan(0)
    // Burst allowance is twice the per-second rate.
    expect(echoed.length).toBeLessThanOrEqual(45)
    c.ws.close()
  })

  test('a frame over the size limit closes the socket with 1009', async () => {
    const c = connect()
    await c.opened
    c.send({ event: 'echo', data: { text: 'x'.repeat(70 * 1024) } })
    expect((await c.closed())?.code).toBe(1009)
  })

  test("open handlers run once the token is valid, before the socket's first frame; rooms reach only their members", async () => {
    const asAlice = `?token=${await tokens.sign({ userId: 'alice' }, 60)}`
    const openedBefore = opened.length
    const [alice1, alice2, bob, anonymous, forged] = [
      connect(asAlice),
      connect(asAlice),
      connect(`?token=${await tokens.sign({ userId: 'bob' }, 60)}`),
      connect(),
      connect('?token=forged'),
    ]
    await Promise.all([alice1, alice2, bob, anonymous, forged].map((c) => c.opened))
    await forged.closed()
    // Sent right away: the open handler (joining the room) must have run before this frame is handled.
    alice1.send({ event: 'shout', data: { text: 'hello' } })
    expect(await alice1.next(2)).toEqual({ event: 'shout-sent', data: { sent: 2 } })
    expect(alice1.frames[0]).toEqual({ event: 'shouted', data: { text: 'hello' } })
    expect(await alice2.next(1)).toEqual({ event: 'shouted', data: { text: 'hello' } })
    bob.send({ event: 'shout', data: { text: 'bob here' } })
    expect(await bob.next(2)).toEqual({ event: 'shout-sent', data: { sent: 1 } })
    // Not for the forged token.
    expect(opened.slice(openedBefore).sort()).toEqual(['alice', 'alice', 'bob', null])
    // A closed socket leaves its rooms.
    alice2.ws.close()
    await alice2.closed()
    await Bun.sleep(50)
    alice1.send({ event: 'shout', data: { text: 'again' } })
    expect(await alice1.next(4)).toEqual({ event: 'shout-sent', data: { sent: 1 } })
    expect(alice2.frames).toHaveLength(1)
    for (const c of [alice1, bob, anonymous]) c.ws.close()
    await Promise.all([alice1, bob, anonymous].map((c) => c.closed()))
  })

  test('close handlers run and the connection count returns to zero', async () => {
    const c = connect()
    await c.opened
    const before = closed.length
    c.ws.close()
    await c.closed()
    const deadline = Date.now() + 2000
    while (closed.length === before && Date.now() < deadline) await Bun.sleep(10)
    expect(closed.length).toBe(before + 1)
    expect(dispatcher.connectionCount).toBe(0)
  })
})
