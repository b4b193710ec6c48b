import { afterAll, beforeAll, expect, test } from 'bun:test'
import type { Browser } from 'playwright-core'
import { b64, opusPackets, postChunk } from '../radio/support.ts'
import { launchBrowser } from '../support/browser.ts'
import { type RunningServer, startServer } from '../support/server.ts'

const KEY = 'browser-key'
let server: RunningServer
let browser: Browser

beforeAll(async () => {
  ;[server, browser] = await Promise.all([startServer({ INGEST_API_KEYS: KEY }), launchBrowser()])
})
afterAll(async () => {
  await browser?.close()
  await server?.stop()
})

test('the dashboard loads in Chromium with both slots, links and live health from the server', async () => {
  const page = await browser.newPage()
  const errors: string[] = []
  page.on('pageerror', (err) => errors.push(err.message))
  const response = await page.goto(server.url)
  expect(response?.status()).toBe(200)
  expect(await page.title()).toBe('Airwave')
  await page.locator('#status.ok').waitFor({ timeout: 10_000 })
  expect(await page.locator('#status').textContent()).toBe('server ok')
  const checks = await page.locator('#checks tr td:first-child').allTextContents()
  expect(checks).toEqual(['database', 'storage', 'ffmpeg', 'native', 'radio'])
  expect(await page.locator('.slot .name').allTextContents()).toEqual(['Slot 1', 'Slot 2'])
  await page.locator('#slot-1 .connection', { hasText: 'connected' }).waitFor({ timeout: 10_000 })
  expect(await page.locator('footer a').allTextContents()).toEqual(['/health', '/openapi/json', '/metrics'])
  expect(errors).toEqual([])
  await page.close()
})

test('a transmission ingested by the test shows live, its audio decodes with WebCodecs, then it lands in the history', async () => {
  const page = await browser.newPage()
  const errors: string[] = []
  page.on('pageerror', (err) => errors.push(err.message))
  await page.goto(server.url)
  await page.locator('#slot-2 .connection', { hasText: 'connected' }).waitFor({ timeout: 10_000 })
  expect(await page.evaluate(() => typeof AudioDecoder)).toBe('function')

  const packets = opusPackets(20)
  for (let sequence = 0; sequence < packets.length; sequence++) {
    const reply = await postChunk(
      server.url,
      {
        slot: 2,
        radio_id: 2222001,
        talkgroup_id: 9,
        sequence,
        chunk_data: b64(packets[sequence] as Uint8Array),
        save_recording: true,
      },
      KEY,
    )
    expect(reply.status).toBe(200)
    if (sequence === 2) {
      const slot = page.locator('#slot-2[data-live="true"]')
      await slot.waitFor({ timeout: 5000 })
      expect(await slot.locator('.radio').textContent()).toBe('2222001')
      expect(await slot.locator('.talkgroup').textContent()).toBe('9')
      expect(await slot.locator('.transmission').textContent()).toMatch(/^r2222001_tg9_\d{14}$/)
    }
    await Bun.sleep(50)
  }
  // Each 100 ms packet decodes to audio frames the page counts; every packet must have produced output.
  await page.waitForFunction(
    () => Number(document.querySelector('#slot-2')?.getAttribute('data-decoded-frames')) >= 20,
    null,
    { timeout: 10_000 },
  )
  const decoded = Number(await page.locator('#slot-2').getAttribute('data-decoded-frames'))
  expect(decoded).toBeGreaterThanOrEqual(20)
  expect(await page.locator('#slot-1').getAttribute('data-decoded-frames')).toBe('0')

  await page.locator('#slot-2[data-live="false"]').waitFor({ timeout: 10_000 })
  const row = page.locator('#history tr[data-transmission-id^="r2222001_tg9_"]')
  await row.waitFor({ timeout: 10_000 })
  expect(await row.locator('td').nth(1).textContent()).toBe('2')
  expect(await row.locator('td').nth(4).textContent()).toBe('2.0 s')
  await row.locator('button.play').click()
  const audio = row.locator('audio')
  await audio.waitFor()
  await page.waitForFunction(
    () => {
      const el = document.querySelector('#history audio') as HTMLAudioElement | null
      return el !== null && el.readyState >= 1 && Number.isFinite(el.duration)
    },
    null,
    { timeout: 10_000 },
  )
  const duration = await audio.evaluate((el) => (el as HTMLAudioElement).duration)
  expect(Math.abs(duration - 2)).toBeLessThan(0.15)
  expect(errors).toEqual([])
  await page.close()
}, 30_000)
