import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { Elysia } from 'elysia'
import { formatSseEvent, type SseCloseReason, SseRegistry, type SseStream } from '../../src/http/sse.ts'
import { openStalledClient } from '../support/stalled-client.ts'

const registry = new SseRegistry()
const closes: SseCloseReason[] = []
const open = new Set<SseStream>()

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
      open.add(stream)
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

  test('a client that stops reading is cut off at its bound; a reading client is untouched', async () => {
    closes.length = 0
    open.clear()
    const reader = (await fetch(`http://127.0.0.1:${port}/events`)).body?.getReader()
    let readBytes = 0
    const reading = (async () => {
      for (let r = await reader?.read(); r && !r.done; r = await reader?.read())
        readBytes += r.value.byteLength
    })()
    const stalled = openStalledClient(port, '/events')
    expect(await waitFor(() => registry.size === 2)).toBe(true)
    // 3.2 MB/s to every stream, paced like live audio, until the stalled one is cut off.
    const payload = 'x'.repeat(16 * 1024)
    const pacer = setInterval(() => {
      for (const stream of open) stream.send({ event: 'big', data: payload })
    }, 5)
    const cut = await waitFor(() => closes.includes('too-slow'), 20_000)
    clearInterval(pacer)
    expect(cut).toBe(true)
    expect(closes).toEqual(['too-slow'])
    expect(registry.size).toBe(1)
    expect(readBytes).toBeGreaterThan(1024 * 1024)
    await reader?.cancel()
    await reading
    stalled.close()
  })

  test('closeAll ends every stream with reason shutdown', async () => {
    expect(await waitFor(() => registry.size === 0)).toBe(true)
    closes.length = 0
    const res = await fetch(`http://127.0.0.1:${port}/events`)
    expect(await waitFor(() => registry.size === 1)).toBe(true)
    registry.closeAll()
    expect(closes).toEqual(['shutdown'])
    const rest = await res.text()
    expect(rest).toContain('event: connected')
  })
})
