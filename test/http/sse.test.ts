import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { Elysia } from 'elysia'
import { formatSseEvent, type SseCloseReason, SseRegistry } from '../../src/http/sse.ts'

const registry = new SseRegistry()
const closes: SseCloseReason[] = []
let flood: (() => void) | undefined

let app: Elysia
let port: number
beforeAll(() => {
  app = new Elysia()
    .get('/events', ({ request, server }) => {
      const stream = registry.open(
        request,
        {
          maxQueuedBytes: 256 * 1024,
          heartbeat: { intervalMs: 50, event: () => ({ event: 'keepalive', data: { t: 1 } }) },
          onClose: (reason) => closes.push(reason),
        },
        server,
      )
      stream.send({ id: '1', event: 'connected', data: { hello: 'world' } })
      flood = () => {
        const payload = 'x'.repeat(16 * 1024)
        for (let i = 0; i < 10_000 && stream.send({ event: 'big', data: payload }); i++) {}
      }
      return stream.response
    })
    .listen({ port: 0, hostname: '127.0.0.1', reusePort: false }) as never
  port = app.server?.port ?? 0
})
afterAll(() => app.stop(true))

const waitFor = async (check: () => boolean, ms = 5000) => {
  const deadline = Date.now() + ms
  while (!check() && Date.now() < deadline) await Bun.sleep(10)
  return check()
}

describe('formatSseEvent', () => {
  test('id, event, retry and JSON data lines', () => {
    expect(formatSseEvent({ id: '7', event: 'audio_chunk', data: { a: 1 }, retry: 3000 })).toBe(
      'id: 7\nevent: audio_chunk\nretry: 3000\ndata: {"a":1}\n\n',
    )
  })
  test('multi-line strings become several data lines; newlines cannot inject fields', () => {
    expect(formatSseEvent({ event: 'x\nid: 9', data: 'a\nb\r\nc' })).toBe(
      'event: xid: 9\ndata: a\ndata: b\ndata: c\n\n',
    )
  })
})

describe('SseStream', () => {
  test('delivers events and heartbeats to a real client', async () => {
    const res = await fetch(`http://127.0.0.1:${port}/events`)
    expect(res.headers.get('content-type')).toBe('text/event-stream; charset=utf-8')
    const reader = res.body?.getReader()
    let text = ''
    while (!text.includes('event: keepalive')) {
      const chunk = await reader?.read()
      if (!chunk || chunk.done) break
      text += new TextDecoder().decode(chunk.value)
    }
    expect(text).toStartWith('id: 1\nevent: connected\ndata: {"hello":"world"}\n\n')
    expect(text).toContain('event: keepalive\ndata: {"t":1}\n\n')
    await reader?.cancel()
    expect(await waitFor(() => closes.includes('client-gone'))).toBe(true)
    expect(registry.size).toBe(0)
  })

  test('a client that stops reading is cut off once its queue passes the bound', async () => {
    closes.length = 0
    // A raw socket that sends the request and never reads: the kernel buffers fill, then our queue.
    const socket = await Bun.connect({
      hostname: '127.0.0.1',
      port,
      socket: { data() {}, open() {} },
    })
    socket.write(`GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`)
    expect(await waitFor(() => registry.size === 1)).toBe(true)
    // Stop reading from now on; Bun keeps the data unread in the kernel buffers.
    socket.pause?.()
    flood?.()
    expect(await waitFor(() => closes.includes('too-slow'), 10_000)).toBe(true)
    expect(registry.size).toBe(0)
    socket.end()
  })

  test('closeAll ends every stream with reason shutdown', async () => {
    closes.length = 0
    const res = await fetch(`http://127.0.0.1:${port}/events`)
    expect(await waitFor(() => registry.size === 1)).toBe(true)
    registry.closeAll()
    expect(closes).toEqual(['shutdown'])
    const rest = await res.text()
    expect(rest).toContain('event: connected')
  })
})
