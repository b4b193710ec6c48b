/**
 * The floor for test/bench/playback.bench.ts: a bare Bun.serve WebSocket relay. Sockets join their user's topic
 * (`?user=`); each `updateStreaming` is re-sent as `trackUpdated` (serialized once) to every socket of that user.
 * No token, no validation, no actor, no limits.
 */
interface Socket {
  user: string
  device: string
}

const relay = Bun.serve<Socket, never>({
  port: 0,
  hostname: '127.0.0.1',
  fetch(request, server) {
    const url = new URL(request.url)
    const data = { user: url.searchParams.get('user') ?? '', device: url.searchParams.get('device') ?? '' }
    return server.upgrade(request, { data })
      ? undefined
      : new Response('expected a WebSocket', { status: 400 })
  },
  websocket: {
    idleTimeout: 120,
    open(ws) {
      ws.subscribe(ws.data.user)
    },
    message(ws, raw) {
      const { event, data } = JSON.parse(String(raw)) as { event: string; data: Record<string, unknown> }
      if (event === 'getCurrentState') {
        ws.send(JSON.stringify({ event: 'trackState', data: {} }))
        return
      }
      const update = { ...data, deviceId: ws.data.device, updatedAt: new Date().toISOString() }
      relay.publish(ws.data.user, JSON.stringify({ event: 'trackUpdated', data: update }))
    },
  },
})
console.log(`floor listening on ${relay.port}`)
