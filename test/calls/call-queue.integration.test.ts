import { afterAll, beforeAll, expect, test } from 'bun:test'
import { type RunningServer, startServer } from '../support/server.ts'
import { callAudio, rdioScannerForm, upload } from './support.ts'

let server: RunningServer
let m4a: Uint8Array

beforeAll(async () => {
  // 60 s calls: even the in-process transcode holds the one slot long enough for the others to queue behind it.
  m4a = await callAudio('m4a', 60)
  server = await startServer({
    INGEST_API_KEYS: 'test-ingest-key',
    CALL_TRANSCODE_CONCURRENCY: '1',
    CALL_QUEUE_MAX: '0',
  })
})
afterAll(() => server?.stop())

test('past CALL_QUEUE_MAX waiting transcodes an upload is a 503 with Retry-After that stores nothing', async () => {
  const replies = await Promise.all(
    Array.from({ length: 4 }, (_, i) =>
      upload(
        `${server.url}/api/call-upload`,
        rdioScannerForm(
          { bytes: m4a, fileName: 'call.m4a', contentType: 'audio/mp4' },
          { talkgroup: String(500 + i), dateTime: '1767446100' },
        ),
      ),
    ),
  )
  const imported = replies.filter((r) => r.status === 200)
  const refused = replies.filter((r) => r.status === 503)
  expect(imported.length).toBeGreaterThanOrEqual(1)
  expect(refused.length).toBeGreaterThanOrEqual(1)
  expect(imported.length + refused.length).toBe(4)
  for (const reply of refused)
    expect(reply.text).toBe('Too many calls are waiting to be transcoded; retry shortly')
  const { data } = (await (await fetch(`${server.url}/api/v1/transmissions?system=7`)).json()) as {
    data: unknown[]
  }
  expect(data.length).toBe(imported.length)
  const metrics = await (await fetch(`${server.url}/metrics`)).text()
  expect(metrics).toContain(`airwave_calls_refused_busy_total ${refused.length}`)
})
