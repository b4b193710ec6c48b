/**
 * The floor for test/bench/radio.bench.ts: a bare Bun.serve SSE broadcaster. A set of stream controllers per slot;
 * each published chunk is encoded once and the same bytes enqueued to each. No validation, no ring, no limits.
 * With a Redis URL argument (test/bench/cluster.bench.ts's floor), a chunk POSTed to any of several such processes
 * is published once on Redis (answered when Redis has it) and every process fans it out to its own listeners: the
 * least a cluster can do on the same machine (one Redis hop, no owner, no ids shared).
 */
import Redis from 'ioredis'

const redisUrl = process.argv[2]
const encoder = new TextEncoder()
const slots = new Map<number, Set<ReadableStreamDefaultController<Uint8Array>>>([
  [1, new Set()],
  [2, new Set()],
])
let id = 0
function fanOut(slot: number, data: string): void {
  const message = encoder.encode(`id: ${++id}\nevent: audio_chunk\ndata: ${data}\n\n`)
  for (const c of slots.get(slot) ?? []) c.enqueue(message)
}
const publisher = redisUrl ? new Redis(redisUrl) : undefined
if (redisUrl) {
  const subscriber = new Redis(redisUrl)
  await subscriber.subscribe('floor:1', 'floor:2')
  subscriber.on('message', (channel: string, data: string) => fanOut(Number(channel.slice(6)), data))
}
const server = Bun.serve({
  port: 0,
  hostname: '127.0.0.1',
  idleTimeout: 0,
  async fetch(request) {
    const url = new URL(request.url)
    if (url.pathname === '/listen') {
      const listeners = slots.get(Number(url.searchParams.get('slot'))) ?? new Set()
      let controller: ReadableStreamDefaultController<Uint8Array> | undefined
      const stream = new ReadableStream<Uint8Array>({
        start(c) {
          controller = c
          listeners.add(c)
          c.enqueue(encoder.encode(`id: ${id}\nevent: connected\ndata: {}\n\n`))
        },
        cancel: () => void (controller && listeners.delete(controller)),
      })
      return new Response(stream, {
        headers: { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' },
      })
    }
    const chunk = (await request.json()) as { slot: number; sequence: number; chunk_data: string }
    const data = JSON.stringify({
      sequence: chunk.sequence,
      chunk: chunk.chunk_data,
      size: (chunk.chunk_data.length * 3) >> 2,
    })
    if (publisher) {
      await publisher.publish(`floor:${chunk.slot}`, data)
      return Response.json({ success: true })
    }
    fanOut(chunk.slot, data)
    return Response.json({ success: true })
  },
})
console.log(`floor listening on ${server.port}`)
