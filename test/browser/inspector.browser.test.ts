import { afterAll, beforeAll, expect, test } from 'bun:test'
import type { Browser } from 'playwright-core'
import { assign, setup } from 'xstate'
import { b64, opusPackets, postChunk } from '../radio/support.ts'
import { type InProcessApp, startInProcessApp } from '../support/app.ts'
import { launchBrowser } from '../support/browser.ts'
import { startServer } from '../support/server.ts'

const demo = setup({
  types: { context: {} as { chunks: number }, events: {} as { type: 'chunk' } | { type: 'end' } },
}).createMachine({
  id: 'demo',
  context: { chunks: 0 },
  initial: 'idle',
  states: {
    idle: { on: { chunk: { target: 'receiving', actions: assign({ chunks: 1 }) } } },
    receiving: {
      on: { chunk: { actions: assign({ chunks: ({ context }) => context.chunks + 1 }) }, end: 'ended' },
    },
    ended: { type: 'final' },
  },
})

let app: InProcessApp
let browser: Browser
beforeAll(async () => {
  ;[app, browser] = await Promise.all([startInProcessApp(), launchBrowser()])
  app.services.registry.define('demo', demo)
})
afterAll(async () => {
  await browser?.close()
  await app?.close()
})

test('/inspector lists a live actor; clicking it shows the timeline and highlighted state, which follow the actor', async () => {
  for (let i = 0; i < 300; i++) app.services.registry.getOrSpawn('demo', `bulk-${i}`)
  const actor = app.services.registry.getOrSpawn<typeof demo>('demo', 'live')
  actor.send({ type: 'chunk' })
  const page = await browser.newPage()
  const errors: string[] = []
  page.on('pageerror', (err) => errors.push(err.message))
  await page.goto(`${app.url}/inspector?token=${await app.token('ops', { role: 'admin' })}`)
  const row = page.locator('tr[data-id="demo:live"]')
  await row.waitFor({ timeout: 10_000 })
  expect(await row.locator('td.state').textContent()).toBe('receiving')
  expect(await page.locator('table[data-kind="demo"] tbody tr').count()).toBe(301)
  await row.click()
  await page.locator('#statechart g.node.current[data-state="receiving"]').waitFor({ timeout: 10_000 })
  expect(await page.locator('#statechart g.node').count()).toBe(3)
  expect(await page.locator('#timeline tbody tr td:nth-child(2)').allTextContents()).toEqual([
    'chunk',
    'xstate.init',
  ])

  actor.send({ type: 'end' })
  await page.locator('#statechart g.node.current[data-state="ended"]').waitFor({ timeout: 10_000 })
  await page.locator('tr[data-id="demo:live"] .badge.done').waitFor({ timeout: 10_000 })
  expect(await page.locator('#detail-state').textContent()).toBe('ended')
  expect(await page.locator('#timeline tbody tr td:nth-child(2)').first().textContent()).toBe('end')

  await page.fill('#filter', 'live')
  await page.waitForFunction(() => document.querySelectorAll('#actors tbody tr').length === 1)
  expect(errors).toEqual([])
})

test('/inspector as admin shows a live transmission from a real ingest, its timeline, and its end', async () => {
  const server = await startServer({ INGEST_API_KEYS: 'test-ingest-key' })
  try {
    const packets = opusPackets(10)
    const ingest = (sequence: number) =>
      postChunk(server.url, {
        slot: 1,
        radio_id: 2222001,
        talkgroup_id: 7,
        sequence,
        chunk_data: b64(packets[sequence - 1] as Uint8Array),
      })
    const page = await browser.newPage()
    await page.goto(`${server.url}/inspector?token=${await server.token('ops', { role: 'admin' })}`)
    await page.locator('#feed-state').filter({ hasText: 'live' }).waitFor({ timeout: 10_000 })
    for (let sequence = 1; sequence <= 3; sequence++) expect((await ingest(sequence)).status).toBe(200)
    const row = page.locator('tr[data-id="transmission:slot1"]')
    await row.locator('td.state', { hasText: 'receiving' }).waitFor({ timeout: 10_000 })
    await row.click()
    await page.locator('#statechart g.node.current[data-state="receiving"]').waitFor({ timeout: 10_000 })
    expect(await page.locator('#timeline tbody tr td:nth-child(2)').first().textContent()).toBe('chunk')
    // 5 s without a chunk ends the transmission; the page follows without a reload.
    await page.locator('#statechart g.node.current[data-state="ended"]').waitFor({ timeout: 15_000 })
    expect(await row.locator('td.state').textContent()).toBe('ended')
    expect(await page.locator('#detail-state').textContent()).toBe('ended')
  } finally {
    await server.stop()
  }
}, 90_000)
