import { afterAll, beforeAll, expect, test } from 'bun:test'
import type { Browser } from 'playwright-core'
import { callAudio, rdioScannerForm, upload } from '../calls/support.ts'
import { launchBrowser } from '../support/browser.ts'
import { type RunningServer, startServer } from '../support/server.ts'

const KEY = 'test-ingest-key'
let server: RunningServer
let browser: Browser
let m4a: Uint8Array

const sendCall = (talkgroup: string, dateTime: string) =>
  upload(
    `${server.url}/api/call-upload`,
    rdioScannerForm({ bytes: m4a, fileName: 'call.m4a', contentType: 'audio/mp4' }, { talkgroup, dateTime }),
  )

beforeAll(async () => {
  m4a = await callAudio('m4a', 3)
  ;[server, browser] = await Promise.all([startServer({ INGEST_API_KEYS: KEY }), launchBrowser()])
})
afterAll(async () => {
  await browser?.close()
  await server?.stop()
})

test('with no calls yet the dashboard says how to point trunk-recorder at this server', async () => {
  const page = await browser.newPage()
  await page.goto(server.url)
  await page.locator('#calls-empty:not([hidden])').waitFor({ timeout: 10_000 })
  const snippet = JSON.parse((await page.locator('#tr-snippet').textContent()) ?? '{}')
  expect(snippet.plugins[0]).toMatchObject({ name: 'rdioscanner_uploader', server: server.url })
  // Every page shares the header: links to the others and the connection status.
  expect(await page.locator('.airwave-header nav a').allTextContents()).toEqual([
    'Radio',
    'Player',
    'Audiobooks',
    'Livestreams',
    'Inspector',
  ])
  await page.locator('.airwave-header .connection-status[data-state="ok"]').waitFor({ timeout: 10_000 })
  await page.close()
}, 30_000)

test('an uploaded call appears in the live feed and plays; its /calls/:id page plays it too', async () => {
  // The first call makes the system known; the page then follows it (from the URL, as a shared link would).
  expect((await sendCall('100', '1767446100')).status).toBe(200)
  const page = await browser.newPage()
  const errors: string[] = []
  page.on('pageerror', (err) => errors.push(err.message))
  await page.goto(`${server.url}/?system=7&talkgroup=100,200`)
  // The systems list arrives after the page loads; the one in the URL is then selected.
  await page.waitForFunction(
    () => (document.getElementById('system-select') as HTMLSelectElement).value === '7',
    null,
    {
      timeout: 10_000,
    },
  )
  expect(await page.locator('#talkgroup-input').inputValue()).toBe('100,200')
  // The earlier call is listed from the history.
  await page.locator('#call-feed li[data-call-id="c7_tg100_20260103131500000"]').waitFor({ timeout: 10_000 })
  await page.locator('#calls-connection', { hasText: 'connected' }).waitFor({ timeout: 10_000 })

  expect((await sendCall('200', '1767446200')).status).toBe(200)
  expect((await sendCall('300', '1767446300')).status).toBe(200)
  const live = page.locator('#call-feed li[data-call-id="c7_tg200_20260103131640000"]')
  await live.waitFor({ timeout: 10_000 })
  expect(await live.locator('.label').textContent()).toBe('FD Dispatch · County P25')
  expect(await live.locator('.units').textContent()).toBe('1234567 (Engine "7" \\ North), 7654321')
  // Talkgroup 300 is outside the filter: never listed.
  await page.waitForFunction(() => Number(document.getElementById('calls')?.dataset.played) >= 1, null, {
    timeout: 15_000,
  })
  expect(await live.getAttribute('data-state')).toBe('played')
  // 3 s of 100 ms Opus packets, each decoded to audio.
  expect(Number(await page.locator('#calls').getAttribute('data-decoded-frames'))).toBeGreaterThanOrEqual(29)
  expect(await page.locator('#call-feed li[data-call-id^="c7_tg300_"]').count()).toBe(0)

  await live.locator('a.label').click()
  await page.waitForURL(`${server.url}/calls/c7_tg200_20260103131640000`)
  await page.locator('#call[data-state="ready"]').waitFor({ timeout: 10_000 })
  expect(await page.locator('#title').textContent()).toBe('FD Dispatch')
  expect(await page.locator('#units tr').count()).toBe(2)
  await page.locator('#player').evaluate((el) => (el as HTMLAudioElement).play())
  await page.waitForFunction(
    () => {
      const el = document.getElementById('player') as HTMLAudioElement
      return el.currentTime > 0.5 && Math.abs(el.duration - 3) < 0.2
    },
    null,
    { timeout: 10_000 },
  )
  expect(errors).toEqual([])
  await page.close()
}, 60_000)

test("a call id that doesn't exist says so", async () => {
  const page = await browser.newPage()
  await page.goto(`${server.url}/calls/c1_tg1_20000101000000000`)
  await page.locator('#call[data-state="missing"]').waitFor({ timeout: 10_000 })
  expect(await page.locator('#title').textContent()).toBe('Call not found')
  await page.close()
}, 30_000)
