import { afterAll, beforeAll, expect, test } from 'bun:test'
import type { Browser, Page } from 'playwright-core'
import { freePort, makeTone } from '../audiobooks/fixtures.ts'
import { launchBrowser } from '../support/browser.ts'
import { type RunningServer, startServer } from '../support/server.ts'
import { tempDir } from '../support/tmp.ts'

let server: RunningServer
let browser: Browser
const files = tempDir('airwave-player-')

beforeAll(async () => {
  const port = freePort()
  ;[server, browser] = await Promise.all([
    startServer({ PORT: String(port), PUBLIC_URL: `http://127.0.0.1:${port}` }),
    launchBrowser(),
  ])
}, 60_000)
afterAll(async () => {
  await browser?.close()
  await server?.stop()
  files.remove()
})

const audioTime = (page: Page) =>
  page.evaluate(() => (document.getElementById('audio') as HTMLAudioElement).currentTime)

test('upload on /audiobooks, see it complete, play it, reload and resume from the saved position', async () => {
  const token = await server.token('reader')
  const book = await makeTone(files.path, 'my-book.wav', 12)
  const context = await browser.newContext()
  const page = await context.newPage()
  const errors: string[] = []
  page.on('pageerror', (err) => errors.push(err.message))

  await page.goto(`${server.url}/audiobooks?token=${token}`)
  // The token leaves the address bar and stays in this browser.
  expect(new URL(page.url()).search).toBe('')

  await page.fill('#title', 'Browser Book')
  await page.setInputFiles('#files', book)
  await page.click('#upload-button')
  await page.locator('#upload-message', { hasText: 'Uploaded "Browser Book"' }).waitFor({ timeout: 15_000 })
  expect(await page.locator('#upload-progress').evaluate((bar: HTMLProgressElement) => bar.value)).toBe(1)

  const row = page.locator('#jobs tr', { hasText: 'Browser Book' })
  await row.locator('.status.COMPLETED').waitFor({ timeout: 30_000 })
  await row.getByRole('button', { name: 'Play' }).click()
  await page.locator('#audio[data-ready="true"]').waitFor({ timeout: 10_000 })
  await page.evaluate(() => (document.getElementById('audio') as HTMLAudioElement).play())
  await page.waitForFunction(
    () => (document.getElementById('audio') as HTMLAudioElement).currentTime > 2,
    null,
    {
      timeout: 15_000,
    },
  )
  await page.evaluate(() => (document.getElementById('audio') as HTMLAudioElement).pause())
  const listenedTo = await audioTime(page)
  await page.locator('#resume-message', { hasText: 'Saved at' }).waitFor({ timeout: 5_000 })

  // The position lives on the server, for this user and book.
  const jobId = (/job=([0-9a-f-]+)/.exec(page.url()) as RegExpExecArray)[1] as string
  const saved = await (
    await fetch(`${server.url}/api/v1/audio/${jobId}/progress`, {
      headers: { authorization: `Bearer ${token}` },
    })
  ).json()
  expect(Math.abs(saved.position - listenedTo)).toBeLessThan(0.5)

  await page.reload()
  await page.locator('#audio[data-ready="true"]').waitFor({ timeout: 10_000 })
  expect(Math.abs((await audioTime(page)) - saved.position)).toBeLessThan(0.5)
  expect(await page.locator('#resume-message').textContent()).toMatch(/Resuming at 0:0\d|Saved at 0:0\d/)

  // Another device (a fresh browser profile: no local storage) resumes from the same place.
  const other = await browser.newContext()
  const phone = await other.newPage()
  await phone.goto(`${server.url}/audiobooks?token=${token}#job=${jobId}`)
  await phone.locator('#audio[data-ready="true"]').waitFor({ timeout: 10_000 })
  expect(Math.abs((await audioTime(phone)) - saved.position)).toBeLessThan(0.5)
  await other.close()
  await context.close()
  expect(errors).toEqual([])
}, 90_000)
