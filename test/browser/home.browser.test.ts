import { afterAll, beforeAll, expect, test } from 'bun:test'
import type { Browser } from 'playwright-core'
import { launchBrowser } from '../support/browser.ts'
import { type RunningServer, startServer } from '../support/server.ts'

let server: RunningServer
let browser: Browser

beforeAll(async () => {
  ;[server, browser] = await Promise.all([startServer(), launchBrowser()])
})
afterAll(async () => {
  await browser?.close()
  await server?.stop()
})

test('the home page loads in Chromium and shows live health from the server', async () => {
  const page = await browser.newPage()
  const errors: string[] = []
  page.on('pageerror', (err) => errors.push(err.message))
  const response = await page.goto(server.url)
  expect(response?.status()).toBe(200)
  expect(await page.title()).toBe('Airwave')
  await page.locator('#status.ok').waitFor({ timeout: 10_000 })
  expect(await page.locator('#status').textContent()).toBe('ok')
  const checks = await page.locator('#checks tr td:first-child').allTextContents()
  expect(checks).toEqual(['database', 'storage', 'ffmpeg', 'native'])
  expect(errors).toEqual([])
})
