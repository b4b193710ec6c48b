/**
 * Hostile and broken input on `/socket.io/`: malformed Engine.IO and Socket.IO packets over a raw WebSocket and over
 * long-polling, unknown events, wrong types, oversized bodies and binary, floods. Each gets an error or a closed
 * connection, never a crash or a 5xx, and a signed-in user beside them carries on unaffected.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { io } from 'socket.io-client'
import { DEFAULT_REALTIME_LIMITS } from '../../src/realtime/dispatcher.ts'
import { type RunningServer, startServer } from '../support/server.ts'
import { SioRecorder } from '../support/socketio-client.ts'

let server: RunningServer
let bystander: SioRecorder
const MAX = DEFAULT_REALTIME_LIMITS.maxMessageBytes

beforeAll(async () => {
  server = await startServer()
  bystander = await SioRecorder.connect(server.url, { auth: { token: await server.token('carol') } })
}, 60_000)
afterAll(async () => {
  bystander?.close()
  await server?.stop()
})

/** The signed-in user beside every attack still gets answers, and the server is up. */
async function bystanderUnaffected(): Promise<void> {
  expect(await bystander.socket.timeout(5000).emitWithAck('getCurrentState', {})).toMatchObject({
    trackId: null,
  })
  expect((await fetch(`${server.url}/health`)).status).toBeLessThan(500)
  expect(server.process.exitCode).toBeNull()
  // Nothing reached the server's error log (an unhandled failure logs at level 50).
  expect(server.output()).not.toContain('"level":50')
}

/** A raw WebSocket speaking Engine.IO by hand: every text frame it receives, and its close code. */
async function rawSocket(connect = true) {
  const ws = new WebSocket(`${server.url.replace(/^http/, 'ws')}/socket.io/?EIO=4&transport=websocket`)
  const frames: string[] = []
  let closeCode: number | undefined
  ws.onmessage = (m) => frames.push(String(m.data))
  const closed = new Promise<number>((resolve) => {
    ws.onclose = (e) => {
      closeCode = e.code
      resolve(e.code)
    }
  })
  await new Promise<void>((resolve, reject) => {
    ws.onopen = () => resolve()
    ws.onerror = () => reject(new Error('socket error'))
  })
  const next = async (match: (frame: string) => boolean) => {
    const deadline = Date.now() + 5000
    while (Date.now() < deadline) {
      const found = frames.find(match)
      if (found) return found
      if (closeCode !== undefined) break
      await Bun.sleep(10)
    }
    throw new Error(`no matching frame; got ${JSON.stringify(frames).slice(0, 500)} (closed: ${closeCode})`)
  }
  await next((f) => f.startsWith('0{'))
  if (connect) {
    ws.send('40')
    await next((f) => f.startsWith('40{'))
  }
  return { ws, frames, closed, next }
}

describe('bad input over Socket.IO', () => {
  test('malformed packets close only the sender: bad JSON, unknown packet types, bad payloads, reserved names, missing attachments', async () => {
    for (const bad of ['42garbage', '9', '4', '41x', '42{"not":"an array"}', '42["disconnect"]']) {
      const raw = await rawSocket()
      raw.ws.send(bad)
      expect(await raw.closed).toBeDefined()
      await bystanderUnaffected()
    }
    // A binary event announcing an attachment, followed by text instead of the bytes.
    const raw = await rawSocket()
    raw.ws.send('451-["stream-data",{"chunk":{"_placeholder":true,"num":0}}]')
    raw.ws.send('42["getCurrentState"]')
    expect(await raw.closed).toBeDefined()
    await bystanderUnaffected()
  })

  test('unknown events and wrong types are answered with errors; the connection stays', async () => {
    const raw = await rawSocket()
    raw.ws.send('42["nope",{}]')
    expect(await raw.next((f) => f.includes('UNKNOWN_EVENT'))).toStartWith('42["error"')
    raw.ws.send('42["playTrack","a string"]')
    expect(await raw.next((f) => f.includes('UNAUTHORIZED'))).toStartWith('42["error"')
    raw.ws.send('421["join-stream",[1,2,3]]')
    expect(JSON.parse((await raw.next((f) => f.startsWith('431['))).slice(3))).toEqual([
      { error: 'Invalid "join-stream" data: Expected object', code: 'MEDIA_ERROR', streamKey: null },
    ])
    // The parser lets a number through as an event name; the dispatcher does not.
    raw.ws.send('42[1,2]')
    expect(await raw.next((f) => f.includes('The event name must be a string'))).toStartWith('42["error"')
    raw.ws.send(`42["${'x'.repeat(100)}",{}]`)
    expect(await raw.next((f) => f.includes('INVALID_MESSAGE'))).toStartWith('42["error"')

    const alice = await SioRecorder.connect(server.url, { auth: { token: await server.token('alice') } })
    try {
      for (const [event, data, code] of [
        ['playTrack', { trackId: 5 }, 'INVALID_MESSAGE'],
        ['updateStreaming', { trackId: 'x', currentTime: -1, isPlaying: true }, 'INVALID_MESSAGE'],
        ['pauseTrack', null, 'INVALID_MESSAGE'],
        ['getCurrentState', { userId: 'mallory' }, 'USER_MISMATCH'],
        ['stream-data', { streamKey: 'x', chunk: { length: 9 } }, 'MEDIA_ERROR'],
        ['start-stream', { streamKey: '../../etc' }, 'STREAM_NOT_FOUND'],
      ] as const) {
        expect(await alice.socket.emitWithAck(event, data)).toMatchObject({ code })
      }
      expect(alice.socket.connected).toBe(true)
    } finally {
      alice.close()
    }
    expect(raw.ws.readyState).toBe(WebSocket.OPEN)
    raw.ws.close()
    await bystanderUnaffected()
  })

  test('a message over the size limit closes that connection (WebSocket 1009, long-polling 413)', async () => {
    const raw = await rawSocket()
    raw.ws.send(`42["echo","${'x'.repeat(MAX)}"]`)
    expect(await raw.closed).toBe(1009)

    const caster = await SioRecorder.connect(server.url, {
      auth: { token: await server.token('dave') },
      transports: ['websocket'],
    })
    caster.socket.emit('stream-data', { streamKey: 'big', chunk: Buffer.alloc(MAX + 1) })
    await new Promise<void>((resolve) => caster.socket.on('disconnect', () => resolve()))

    const handshake = await (await fetch(`${server.url}/socket.io/?EIO=4&transport=polling`)).text()
    const sid = JSON.parse(handshake.slice(1)).sid as string
    const polling = `${server.url}/socket.io/?EIO=4&transport=polling&sid=${sid}`
    const tooBig = await fetch(polling, {
      method: 'POST',
      body: `4${'x'.repeat(Math.ceil((MAX * 4) / 3) + 70_000)}`,
    })
    expect(tooBig.status).toBe(413)
    // A body without a length (chunked) is refused before it is read.
    const chunked = await fetch(polling, {
      method: 'POST',
      body: new ReadableStream({
        start(controller) {
          controller.enqueue(new TextEncoder().encode('40'))
          controller.close()
        },
      }),
    })
    expect(chunked.status).toBe(411)
    await bystanderUnaffected()
  })

  test('broken long-polling requests are 4xx, never 5xx', async () => {
    const base = `${server.url}/socket.io/`
    const cases: Array<[string, RequestInit | undefined]> = [
      ['?EIO=4&transport=carrier-pigeon', undefined],
      ['?EIO=3&transport=polling', undefined],
      ['?EIO=4&transport=polling&sid=nope', undefined],
      ['?EIO=4&transport=polling', { method: 'POST', body: '40' }],
      ['?EIO=4&transport=polling', { method: 'PUT', body: 'x' }],
      ['', undefined],
    ]
    for (const [query, init] of cases) {
      const response = await fetch(base + query, init)
      expect(response.status).toBeGreaterThanOrEqual(400)
      expect(response.status).toBeLessThan(500)
    }
    // Garbage packets over a real polling session close that session only.
    const handshake = await (await fetch(`${base}?EIO=4&transport=polling`)).text()
    const sid = JSON.parse(handshake.slice(1)).sid as string
    for (const body of ['\u0000\u0001', '42garbage', 'b!!!not base64', `40\u001e42["nope"]\u001e9`]) {
      const response = await fetch(`${base}?EIO=4&transport=polling&sid=${sid}`, { method: 'POST', body })
      expect(response.status).toBeLessThan(500)
    }
    await bystanderUnaffected()
  })

  test('bad handshakes: a token of the wrong type, a namespace that does not exist', async () => {
    for (const auth of [{ token: 42 }, { token: { nested: true } }, { token: '' }]) {
      const socket = io(server.url, { auth, reconnection: false, forceNew: true })
      const outcome = await new Promise<string>((resolve) => {
        socket.on('connect', () => resolve('connected'))
        socket.on('connect_error', (err) => resolve(err.message))
      })
      socket.close()
      // An empty token is no token: anonymous.
      expect(outcome).toBe(auth.token === '' ? 'connected' : 'UNAUTHORIZED')
    }
    const elsewhere = io(`${server.url}/admin`, { reconnection: false, forceNew: true })
    const refused = await new Promise<Error>((resolve) => elsewhere.on('connect_error', resolve))
    elsewhere.close()
    expect(refused.message).toBe('Invalid namespace')
    await bystanderUnaffected()
  })

  test('a flood of events gets RATE_LIMITED errors, as on /ws; the sender stays connected', async () => {
    const flooder = await SioRecorder.connect(server.url, { transports: ['websocket'] })
    const rate = DEFAULT_REALTIME_LIMITS.messagesPerSecond
    for (let i = 0; i < rate * 3; i++) flooder.socket.emit('join-stream', { streamKey: 'none' })
    await flooder.next((f) => f.event === 'error' && f.data.code === 'RATE_LIMITED')
    expect(flooder.socket.connected).toBe(true)
    flooder.close()
    await bystanderUnaffected()
  })
})
