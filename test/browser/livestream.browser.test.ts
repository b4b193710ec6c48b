import { afterAll, beforeAll, expect, test } from 'bun:test'
import type { Browser, Page } from 'playwright-core'
import { FAKE_MEDIA_ARGS, launchBrowser } from '../support/browser.ts'
import { type RunningServer, startServer } from '../support/server.ts'

let server: RunningServer
let browser: Browser

beforeAll(async () => {
  ;[server, browser] = await Promise.all([startServer(), launchBrowser(FAKE_MEDIA_ARGS)])
  // Booting the server and making the WebM with FFmpeg can take a while on a busy 2-core machine.
}, 120_000)
afterAll(async () => {
  await browser?.close()
  await server?.stop()
})

function watchErrors(page: Page): string[] {
  const errors: string[] = []
  page.on('pageerror', (err) => errors.push(err.message))
  return errors
}

test('the broadcaster page goes live from a fake camera; the viewer page plays ll.m3u8 with hls.js in low-latency mode', async () => {
  const token = await server.token('alice')
  const broadcaster = await browser.newPage()
  const broadcasterErrors = watchErrors(broadcaster)
  await broadcaster.goto(`${server.url}/live/broadcast?token=${token}&streamKey=cam1`)
  await broadcaster.click('#start')
  await broadcaster.locator('body[data-state="live"]').waitFor({ timeout: 15_000 })
  // MediaRecorder's WebM became HLS segments on the server.
  await broadcaster.waitForFunction(
    () => Number(document.getElementById('segments')?.textContent) >= 2,
    null,
    {
      timeout: 30_000,
    },
  )

  const list = await browser.newPage()
  const requests: string[] = []
  list.on('request', (request) => requests.push(request.url()))
  await list.goto(`${server.url}/live`)
  await list.locator('#streams a[href="/live/cam1"]').waitFor({ timeout: 10_000 })
  await list.click('#streams a[href="/live/cam1"]')
  const viewer = list
  const viewerErrors = watchErrors(viewer)
  await viewer.waitForURL(`${server.url}/live/cam1`)
  await viewer.locator('body[data-state="live"]').waitFor({ timeout: 15_000 })
  expect(await viewer.evaluate(() => typeof (window as unknown as { Hls?: unknown }).Hls)).toBe('function')
  // Playback: currentTime advances.
  await viewer.waitForFunction(
    () => (document.getElementById('video') as HTMLVideoElement).currentTime > 0.5,
    null,
    {
      timeout: 30_000,
    },
  )
  const first = await viewer.evaluate(
    () => (document.getElementById('video') as HTMLVideoElement).currentTime,
  )
  await viewer.waitForFunction(
    (start) => (document.getElementById('video') as HTMLVideoElement).currentTime > start + 1,
    first,
    { timeout: 15_000 },
  )
  // Low-latency HLS: hls.js asks for ll.m3u8 with blocking reloads and loads parts, not the MPEG-TS playlist.
  expect(
    requests.some((u) => /\/livestream\/cam1\/ll\.m3u8\?session=[^&]+&_HLS_msn=\d+&_HLS_part=\d+/.test(u)),
  ).toBe(true)
  expect(requests.some((u) => /\/livestream\/cam1\/part_\d+\.m4s$/.test(u))).toBe(true)
  expect(requests.some((u) => u.includes('/stream.m3u8'))).toBe(false)
  // The page shows the live latency: now − the program date time of the frame on screen.
  const latencyMs = Number(
    await viewer.locator('#latency[data-ms]').getAttribute('data-ms', { timeout: 10_000 }),
  )
  expect(latencyMs).toBeGreaterThan(0)
  expect(latencyMs).toBeLessThan(10_000)
  expect(await viewer.locator('#latency').textContent()).toMatch(/^\d+\.\d s$/)
  expect(await viewer.locator('#viewers').textContent()).toBe('1')
  await broadcaster.waitForFunction(() => document.getElementById('viewers')?.textContent === '1', null, {
    timeout: 10_000,
  })
  await broadcaster.screenshot({ path: '/tmp/airwave-broadcast.png' })
  await viewer.screenshot({ path: '/tmp/airwave-viewer.png' })

  await broadcaster.click('#stop')
  await viewer.locator('body[data-state="ended"]').waitFor({ timeout: 15_000 })
  expect(broadcasterErrors).toEqual([])
  expect(viewerErrors).toEqual([])
  const errors = await broadcaster.locator('#errors li').allTextContents()
  expect(errors).toEqual([])
}, 120_000)
