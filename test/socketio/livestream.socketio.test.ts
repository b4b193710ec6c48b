/**
 * Livestreams over Socket.IO with the real clients: a broadcaster written as livestream-api.md's SDK example
 * (socket.io-client, WebM chunks as binary attachments at MediaRecorder's 100 ms pace), an anonymous python-socketio
 * viewer, and a `/ws` viewer beside them, all counted in one viewerCount.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { io, type Socket } from 'socket.io-client'
import { HAVE_PYTHON_SOCKETIO, PythonClient } from '../support/python-socketio.ts'
import { type RunningServer, startServer } from '../support/server.ts'
import { SioRecorder } from '../support/socketio-client.ts'
import { chunkWebm, makeWebm, type WebmChunk } from '../support/webm.ts'
import { WsClient } from '../support/ws-client.ts'

let server: RunningServer
let chunks: WebmChunk[]
let alice: string
const open: Array<{ close(): void }> = []

beforeAll(async () => {
  const [started, webm] = await Promise.all([
    // Few control events allowed: 100 ms chunks must not count against them (CONTRACT, Livestream).
    startServer({ LIVESTREAM_EVENTS_PER_MIN: '10', LIVESTREAM_GRACE_S: '2' }),
    makeWebm({ seconds: 7 }),
  ])
  server = started
  chunks = chunkWebm(webm, 100)
  alice = await server.token('alice')
}, 120_000)
afterAll(async () => {
  for (const client of open) client.close()
  await server?.stop()
})

/**
 * Each chunk in one of the shapes socket.io-client sends as a binary attachment from Bun or Node: Buffer, ArrayBuffer,
 * Uint8Array. (A Blob is the browser's shape: test/browser/socketio.browser.test.ts sends MediaRecorder's.)
 */
function asAttachment(bytes: Uint8Array, i: number): Buffer | ArrayBuffer | Uint8Array {
  const copy = bytes.slice()
  return [Buffer.from(copy), copy.buffer, copy][i % 3] as Uint8Array
}

/** Sends every chunk at `gapMs` as MediaRecorder's ondataavailable would. */
async function record(socket: Socket, streamKey: string, list: WebmChunk[], gapMs = 100): Promise<void> {
  for (const [i, chunk] of list.entries()) {
    socket.emit('stream-data', { streamKey, chunk: asAttachment(chunk.bytes, i) })
    await Bun.sleep(gapMs)
  }
}

describe('livestream over Socket.IO', () => {
  test('the SDK example broadcasts Buffers at 100 ms; an anonymous Python viewer and a /ws viewer are counted on both', async () => {
    const streamKey = 'stream123'
    const url = server.url.replace(/^http/, 'ws')
    // Connect to stream (the token is Airwave's addition: broadcasting needs one).
    const socket = io(url, { query: { streamKey }, auth: { token: alice }, reconnection: false })
    const broadcaster = new SioRecorder(socket)
    open.push(broadcaster)
    await broadcaster.connected()
    // Start streaming
    socket.emit('start-stream', { userId: 'alice', streamKey })
    expect((await broadcaster.next((f) => f.event === 'stream-started')).data).toMatchObject({
      streamKey,
      status: 'broadcasting',
    })

    const python = HAVE_PYTHON_SOCKETIO ? new PythonClient(server.url, { query: { streamKey } }) : undefined
    try {
      let viewers = 0
      if (python) {
        await python.next((l) => l.event === 'connect')
        python.emit('join-stream', { streamKey, userId: 'python-viewer' })
        expect((await python.next((l) => l.event === 'stream-joined')).data).toMatchObject({
          streamKey,
          viewerCount: 1,
        })
        viewers = 1
        expect(
          (await broadcaster.next((f) => f.event === 'viewer-joined' && f.data.viewerCount === 1)).data,
        ).toEqual({ streamKey, viewerCount: 1 })
      }
      const wsViewer = await WsClient.open(server.url, { streamKey })
      open.push(wsViewer)
      const joined = await wsViewer.request('join-stream', { userId: 'ws-viewer' }, 'stream-joined')
      expect(joined.data).toMatchObject({ streamKey, viewerCount: viewers + 1 })
      await broadcaster.next((f) => f.event === 'viewer-joined' && f.data.viewerCount === viewers + 1)
      await python?.next(
        (l) => l.event === 'viewer-joined' && (l.data as { viewerCount: number }).viewerCount === 2,
      )

      await record(socket, streamKey, chunks)
      // Every chunk went through: segments for all viewers, never a stream-error.
      await broadcaster.next((f) => f.event === 'stream-segments-updated')
      await wsViewer.next((f) => f.event === 'stream-segments-updated')
      await python?.next((l) => l.event === 'stream-segments-updated')
      expect(broadcaster.events('stream-error')).toEqual([])
      const status = await (await fetch(`${server.url}/livestream/${streamKey}/status`)).json()
      expect(status.local.streamData.viewers).toBe(viewers + 1)

      if (python) {
        python.emit('leave-stream', { streamKey })
        await broadcaster.next((f) => f.event === 'viewer-left' && f.data.viewerCount === 1)
      }
      socket.emit('end-stream', { streamKey, userId: 'alice' })
      expect((await wsViewer.next((f) => f.event === 'stream-ended')).data).toMatchObject({ streamKey })
      await broadcaster.next((f) => f.event === 'stream-ended')
      const playlist = await (await fetch(`${server.url}/livestream/${streamKey}/stream.m3u8`)).text()
      expect(playlist).toContain('#EXT-X-ENDLIST')
    } finally {
      await python?.stop()
    }
  }, 120_000)

  test('over long-polling, base64 and binary chunks both arrive; acknowledgements carry stream-error', async () => {
    const streamKey = 'polling-cast'
    const caster = await SioRecorder.connect(server.url, {
      query: { streamKey },
      auth: { token: alice },
      transports: ['polling'],
    })
    open.push(caster)
    expect(await caster.socket.emitWithAck('start-stream', { userId: 'alice' })).toMatchObject({
      streamKey,
      status: 'broadcasting',
    })
    const [first, second, third] = chunks as [WebmChunk, WebmChunk, WebmChunk]
    expect(
      await caster.socket.emitWithAck('stream-data', { chunk: Buffer.from(first.bytes) }),
    ).toBeUndefined()
    expect(
      await caster.socket.emitWithAck('stream-data', { chunk: Buffer.from(second.bytes).toString('base64') }),
    ).toBeUndefined()
    expect(
      await caster.socket.emitWithAck('stream-data', { chunk: third.bytes.slice().buffer }),
    ).toBeUndefined()
    // Someone else's stream, an empty chunk, a chunk that is neither bytes nor base64: stream-error, by ack.
    const other = await SioRecorder.connect(server.url, { auth: { token: await server.token('bob') } })
    open.push(other)
    expect(
      await other.socket.emitWithAck('stream-data', { streamKey, chunk: Buffer.from(first.bytes) }),
    ).toMatchObject({ code: 'UNAUTHORIZED', streamKey })
    expect(await caster.socket.emitWithAck('stream-data', { chunk: new Uint8Array(0) })).toMatchObject({
      code: 'MEDIA_ERROR',
    })
    expect(await caster.socket.emitWithAck('stream-data', { chunk: 42 })).toMatchObject({
      code: 'MEDIA_ERROR',
    })
    expect(await caster.socket.emitWithAck('end-stream', {})).toBeUndefined()
    await caster.next((f) => f.event === 'stream-ended')
  }, 60_000)
})
