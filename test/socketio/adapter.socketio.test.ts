/**
 * The Socket.IO adapter against the real app in this process, with a test event registered on the dispatcher: what
 * a handler sees of a Socket.IO connection (identity, address, query, transport) on WebSocket and long-polling, and
 * how answers, pushes and room deliveries reach it beside a `/ws` connection.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { t } from 'elysia'
import { type InProcessApp, startInProcessApp } from '../support/app.ts'
import { SioRecorder } from '../support/socketio-client.ts'
import { WsClient } from '../support/ws-client.ts'

let app: InProcessApp
const closed: string[] = []

beforeAll(async () => {
  app = await startInProcessApp()
  const { realtime } = app.services
  realtime.on('whoami', t.Object({}), { auth: 'optional' }, (connection) => ({
    event: 'you-are',
    data: {
      id: connection.id,
      transport: connection.transport,
      userId: connection.identity?.userId ?? null,
      remoteAddress: connection.remoteAddress,
      device: connection.query.device ?? null,
    },
  }))
  realtime.on(
    'tell-room',
    t.Object({ room: t.String(), text: t.String() }),
    { auth: 'optional' },
    (c, data) => {
      realtime.join(c, data.room)
      return {
        event: 'told',
        data: { delivered: realtime.toRoom(data.room, 'room-said', { text: data.text }) },
      }
    },
  )
  realtime.on('poke', t.Object({ id: t.String() }), { auth: 'optional' }, (_c, data) => {
    realtime.sendTo(data.id, 'poked', {})
    return undefined
  })
  realtime.onClose((connection) => closed.push(connection.id))
}, 60_000)
afterAll(() => app?.close())

describe('the Socket.IO adapter', () => {
  test('a handler sees identity, client address, query and transport, on WebSocket and on long-polling', async () => {
    const token = await app.token('erin')
    for (const transports of [['websocket'], ['polling']]) {
      const client = await SioRecorder.connect(app.url, {
        auth: { token },
        query: { device: 'phone' },
        transports,
      })
      expect(await client.socket.emitWithAck('whoami', {})).toEqual({
        id: client.socket.id,
        transport: 'socket.io',
        userId: 'erin',
        remoteAddress: '127.0.0.1',
        device: 'phone',
      })
      // Without an acknowledgement the answer comes as its event.
      client.socket.emit('whoami', {})
      expect((await client.nextEvent('you-are')).data.id).toBe(client.socket.id)
      client.close()
    }
  })

  test('rooms and direct sends reach connections on either transport; a closed one leaves its rooms', async () => {
    const sio = await SioRecorder.connect(app.url, { transports: ['polling'] })
    const ws = await WsClient.open(app.url)
    expect((await ws.request('tell-room', { room: 'lobby', text: 'first' }, 'told')).data).toEqual({
      delivered: 1,
    })
    expect(await sio.socket.emitWithAck('tell-room', { room: 'lobby', text: 'hello' })).toEqual({
      delivered: 2,
    })
    expect((await ws.next((f) => f.event === 'room-said' && f.data.text === 'hello')).data).toEqual({
      text: 'hello',
    })
    expect(sio.events('room-said')).toEqual([{ text: 'hello' }])

    const wsId = (await ws.request('whoami', {}, 'you-are')).data.id as string
    expect(await sio.socket.emitWithAck('poke', { id: wsId })).toBeUndefined()
    await ws.next((f) => f.event === 'poked')

    const sioId = sio.socket.id as string
    sio.close()
    const deadline = Date.now() + 5000
    while (!closed.includes(sioId) && Date.now() < deadline) await Bun.sleep(20)
    expect(closed).toContain(sioId)
    expect((await ws.request('tell-room', { room: 'lobby', text: 'again' }, 'told')).data).toEqual({
      delivered: 1,
    })
    ws.close()
  })
})
