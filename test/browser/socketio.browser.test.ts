/**
 * livestream-api.md's JavaScript SDK example in a real browser: socket.io-client's browser bundle, a MediaRecorder
 * on a (fake) camera, and `chunk: event.data` — a Blob — every 100 ms (Chromium's first one is a single byte of the
 * WebM header: the ingest joins it up).
 */
import { afterAll, beforeAll, expect, test } from 'bun:test'
import { join } from 'node:path'
import type { Browser } from 'playwright-core'
import { FAKE_MEDIA_ARGS, launchBrowser } from '../support/browser.ts'
import { REPO_ROOT, type RunningServer, startServer } from '../support/server.ts'

let server: RunningServer
let browser: Browser

beforeAll(async () => {
  ;[server, browser] = await Promise.all([
    // Few control events allowed: the chunks must not count against them.
    startServer({ LIVESTREAM_EVENTS_PER_MIN: '10' }),
    launchBrowser(FAKE_MEDIA_ARGS),
  ])
}, 120_000)
afterAll(async () => {
  await browser?.close()
  await server?.stop()
})

test('the SDK example in Chromium: MediaRecorder Blobs every 100 ms as stream-data become HLS segments', async () => {
  const page = await browser.newPage()
  const errors: string[] = []
  page.on('pageerror', (err) => errors.push(err.message))
  await page.goto(`${server.url}/live`)
  await page.addScriptTag({ path: join(REPO_ROOT, 'node_modules/socket.io-client/dist/socket.io.min.js') })
  const token = await server.token('alice')
  const seen = await page.evaluate(
    async ({ token }) => {
      const { io } = window as unknown as { io: typeof import('socket.io-client').io }
      const events: Array<{ event: string; data: unknown }> = []
      // Connect to stream
      const socket = io(location.origin.replace(/^http/, 'ws'), {
        query: { streamKey: 'stream123' },
        auth: { token },
      })
      socket.onAny((event, data) => events.push({ event, data }))
      // Start streaming
      socket.emit('start-stream', {
        userId: 'alice',
        streamKey: 'stream123',
      })
      // Send video data
      const mediaStream = await navigator.mediaDevices.getUserMedia({ video: true, audio: true })
      const mediaRecorder = new MediaRecorder(mediaStream)
      let chunks = 0
      mediaRecorder.ondataavailable = (event) => {
        chunks++
        socket.emit('stream-data', {
          streamKey: 'stream123',
          chunk: event.data,
        })
      }
      mediaRecorder.start(100)
      const deadline = Date.now() + 40_000
      while (!events.some((e) => e.event === 'stream-segments-updated') && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 100))
      }
      mediaRecorder.stop()
      socket.emit('end-stream', { streamKey: 'stream123' })
      await new Promise((resolve) => setTimeout(resolve, 500))
      socket.disconnect()
      return { events, chunks, transport: socket.io.engine?.transport.name }
    },
    { token },
  )
  expect(seen.events.find((e) => e.event === 'stream-started')?.data).toMatchObject({
    status: 'broadcasting',
  })
  expect(seen.events.filter((e) => e.event === 'stream-error')).toEqual([])
  expect(seen.events.some((e) => e.event === 'stream-segments-updated')).toBe(true)
  // The first 2 s segment needs about 20 slices of 100 ms (MediaRecorder's first can run a little long, and the loop
  // stops at that segment, so exactly 20 happens); with 1 s slices there would be 2 or 3.
  expect(seen.chunks).toBeGreaterThanOrEqual(15)
  expect(errors).toEqual([])
  const playlist = await (await fetch(`${server.url}/livestream/stream123/stream.m3u8`)).text()
  expect(playlist).toContain('segment_0.ts')
}, 90_000)
