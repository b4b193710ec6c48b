import { afterAll, beforeAll, expect, test } from 'bun:test'
import type { Browser, Page } from 'playwright-core'
import { libraryTrackId } from '../../src/tracks/library.ts'
import { makeTone } from '../audiobooks/fixtures.ts'
import { launchBrowser } from '../support/browser.ts'
import { type RunningServer, startServer } from '../support/server.ts'
import { tempDir } from '../support/tmp.ts'

let server: RunningServer
let browser: Browser
const audio = tempDir('airwave-player-audio-')
/** Ten minutes of WAV (53 MB): too much for the browser to buffer at once, so a far seek needs a new Range. */
const LONG_S = 600
/** FFmpeg's sine tone: 44.1 kHz mono 16-bit. */
const WAV_BYTES_PER_S = 88_200
const longId = libraryTrackId('long-tone.wav')

beforeAll(async () => {
  await Promise.all([
    makeTone(audio.path, 'long-tone.wav', LONG_S),
    makeTone(audio.path, 'short-tone.mp3', 5),
  ])
  ;[server, browser] = await Promise.all([startServer({ AUDIO_FILES_DIR: audio.path }), launchBrowser()])
}, 60_000)
afterAll(async () => {
  await browser?.close()
  await server?.stop()
  audio.remove()
})

interface Observed {
  page: Page
  /** Events this page sent on /ws, in order. */
  sent: string[]
  /** Stream responses: status and the Range the browser asked for. */
  streams: Array<{ status: number; range: string | undefined }>
  errors: string[]
}

async function open(page: Page, token: string): Promise<Observed> {
  const observed: Observed = { page, sent: [], streams: [], errors: [] }
  page.on('pageerror', (err) => observed.errors.push(err.message))
  page.on('websocket', (ws) => {
    // The page's own socket; the test's report socket (`reporter=1`, see below) is not the page's doing.
    if (new URL(ws.url()).searchParams.has('reporter')) return
    ws.on('framesent', (frame) => observed.sent.push(JSON.parse(String(frame.payload)).event))
  })
  page.on('response', (response) => {
    if (!response.url().includes('/api/tracks/stream/')) return
    observed.streams.push({ status: response.status(), range: response.request().headers().range })
  })
  await page.goto(`${server.url}/player?token=${token}`)
  await page.locator('#connection', { hasText: /^connected$/ }).waitFor({ timeout: 15_000 })
  await page.locator(`#tracks tr[data-track-id="${longId}"]`).waitFor({ timeout: 15_000 })
  return observed
}

const media = (page: Page) =>
  page.evaluate(() => {
    const element = document.getElementById('audio') as HTMLAudioElement
    return {
      src: element.src,
      paused: element.paused,
      currentTime: element.currentTime,
      readyState: element.readyState,
      seeking: element.seeking,
    }
  })

/** Waits until `check` holds for the page's audio element; on a timeout, says what the element and the page showed. */
async function waitForMedia(page: Page, check: string, timeout = 15_000): Promise<void> {
  try {
    await page.waitForFunction(
      (expression) => {
        const element = document.getElementById('audio') as HTMLAudioElement
        return new Function('audio', `return ${expression}`)(element)
      },
      check,
      { timeout },
    )
  } catch (err) {
    const seen = {
      audio: await media(page),
      ...(await page.evaluate(() => ({
        session: { ...document.getElementById('now')?.dataset },
        message: document.getElementById('message')?.textContent,
      }))),
    }
    throw new Error(`${check}: not within ${timeout} ms; the page showed ${JSON.stringify(seen)}`, {
      cause: err,
    })
  }
}

test('two tabs of one user: play, pause and seek in one, the other follows; seeking streams with Range (206)', async () => {
  const token = await server.token('listener')
  const context = await browser.newContext()
  const leader = await open(await context.newPage(), token)
  const other = await open(await context.newPage(), token)
  // The token left the address bar; each tab is its own device.
  expect(new URL(leader.page.url()).search).toBe('')

  await leader.page.locator(`#tracks tr[data-track-id="${longId}"] button`).click()
  for (const tab of [leader, other]) {
    await tab.page
      .locator(`#now[data-state="playing"][data-track-id="${longId}"]`)
      .waitFor({ timeout: 15_000 })
    await waitForMedia(
      tab.page,
      `!audio.paused && audio.currentTime > 0.5 && audio.src.includes('${longId}')`,
    )
  }
  expect(await other.page.locator('#now-title').textContent()).toContain('long-tone')

  await leader.page.click('#toggle')
  await other.page.locator('#now[data-state="paused"]').waitFor({ timeout: 10_000 })
  await waitForMedia(other.page, 'audio.paused')
  const leaderAt = (await media(leader.page)).currentTime
  expect(Math.abs((await media(other.page)).currentTime - leaderAt)).toBeLessThan(1.5)

  // Seek far ahead while playing, while the other tab keeps reporting its position as the same device (as the
  // documents' client does on every timeupdate) from before it heard of the seek (a slow device, reports in
  // flight): the other tab jumps there too, and those reports never drag either tab back.
  await leader.page.click('#toggle')
  await waitForMedia(other.page, '!audio.paused')
  await other.page.evaluate(
    ({ token, trackId }) => {
      const url = new URL('/ws', location.href)
      url.protocol = 'ws:'
      url.searchParams.set('token', token)
      url.searchParams.set('device', sessionStorage.getItem('airwave-device') ?? '')
      url.searchParams.set('reporter', '1')
      const reporter = new WebSocket(url)
      const element = document.getElementById('audio') as HTMLAudioElement
      const [from, since] = [element.currentTime, performance.now()]
      const timer = setInterval(() => {
        if (reporter.readyState !== WebSocket.OPEN) return
        const data = { trackId, currentTime: from + (performance.now() - since) / 1000, isPlaying: true }
        reporter.send(JSON.stringify({ event: 'updateStreaming', data }))
      }, 100)
      Object.assign(window, {
        stopReports: () => {
          clearInterval(timer)
          reporter.close()
        },
      })
    },
    { token, trackId: longId },
  )
  await Bun.sleep(500)
  const reportedFrom = (await media(other.page)).currentTime
  expect(reportedFrom).toBeLessThan(60)
  await leader.page.evaluate(() => {
    const seek = document.getElementById('seek') as HTMLInputElement
    seek.value = '400'
    seek.dispatchEvent(new Event('change'))
  })
  await waitForMedia(other.page, 'audio.currentTime > 398 && audio.currentTime < 410 && !audio.paused')
  await waitForMedia(leader.page, 'audio.currentTime > 400.5 && !audio.paused')
  // Reports keep coming for a while after the seek; both tabs stay past it.
  await Bun.sleep(1500)
  for (const tab of [leader, other]) expect((await media(tab.page)).currentTime).toBeGreaterThan(400)
  await other.page.evaluate(() => (window as unknown as { stopReports(): void }).stopReports())

  // Both tabs fetched the part of the file at 400 s with a Range request, answered 206 (the WAV holds 88,200
  // bytes a second after its 44-byte header; browsers align the start a little before the target).
  for (const tab of [leader, other]) {
    const seekRanges = tab.streams.filter((s) => {
      const start = Number(/^bytes=(\d+)-/.exec(s.range ?? '')?.[1] ?? -1)
      return start >= 44 + 390 * WAV_BYTES_PER_S && start <= 44 + 400 * WAV_BYTES_PER_S
    })
    expect(seekRanges.length).toBeGreaterThan(0)
    expect(seekRanges.every((s) => s.status === 206)).toBe(true)
  }
  expect(leader.streams.every((s) => s.status === 200 || s.status === 206)).toBe(true)

  // The follower only ever asked for the state: it never echoed the changes it applied back to the server.
  expect(other.sent.every((event) => event === 'getCurrentState')).toBe(true)
  expect(leader.sent).toContain('playTrack')
  expect(leader.sent).toContain('pauseTrack')
  expect([...leader.errors, ...other.errors]).toEqual([])
  await context.close()
}, 120_000)
