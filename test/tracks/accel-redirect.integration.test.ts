import { afterAll, beforeAll, expect, test } from 'bun:test'
import { mkdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { libraryTrackId } from '../../src/tracks/library.ts'
import { makeTone } from '../support/audio.ts'
import { type RunningNginx, startNginx } from '../support/nginx.ts'
import { type RunningServer, startServer } from '../support/server.ts'
import { tempDir } from '../support/tmp.ts'

/** A folder and a name that need percent-encoding in the internal URI. */
const RELATIVE_PATH = 'Folk & Blues/Song #1 (live).wav'
const library = tempDir('airwave-accel-library-')
let server: RunningServer
let nginx: RunningNginx
let bytes: Uint8Array<ArrayBuffer>
let alice: string
let bob: string

beforeAll(async () => {
  mkdirSync(join(library.path, 'Folk & Blues'))
  const path = await makeTone(join(library.path, 'Folk & Blues'), 'Song #1 (live).wav', 2)
  bytes = new Uint8Array(readFileSync(path).buffer.slice(0) as ArrayBuffer)
  server = await startServer({ AUDIO_FILES_DIR: library.path, TRACK_ACCEL_REDIRECT: '/_airwave_files/' })
  nginx = await startNginx({
    upstreams: [`127.0.0.1:${server.port}`],
    audioDir: library.path,
    uploadsDir: join(server.dataDir, 'uploads/tracks'),
  })
  alice = await server.token('alice')
  bob = await server.token('bob')
})
afterAll(async () => {
  await nginx?.stop()
  await server?.stop()
  library.remove()
})

const streamUrl = (id: string, token?: string) =>
  `${nginx.url}/api/stream/${id}${token ? `?token=${encodeURIComponent(token)}` : ''}`

test('the instance checks the token, nginx sends the bytes with its own Range handling', async () => {
  const id = libraryTrackId(RELATIVE_PATH)
  const range = await fetch(streamUrl(id, alice), { headers: { range: 'bytes=100-199' } })
  expect(range.status).toBe(206)
  expect(new Uint8Array(await range.arrayBuffer())).toEqual(bytes.slice(100, 200))
  expect(range.headers.get('content-range')).toBe(`bytes 100-199/${bytes.byteLength}`)
  expect(range.headers.get('content-type')).toBe('audio/wav')
  expect(range.headers.get('x-request-id')).toMatch(/\S/)
  expect(range.headers.get('x-accel-redirect')).toBeNull()

  const whole = await fetch(streamUrl(id, alice))
  expect(whole.status).toBe(200)
  expect(new Uint8Array(await whole.arrayBuffer())).toEqual(bytes)
  const etag = whole.headers.get('etag') as string
  expect(etag).toMatch(/^"/)
  expect((await fetch(streamUrl(id, alice), { headers: { 'if-none-match': etag } })).status).toBe(304)
  const head = await fetch(streamUrl(id, alice), { method: 'HEAD' })
  expect(head.headers.get('content-length')).toBe(String(bytes.byteLength))
  expect(
    (await fetch(streamUrl(id, alice), { headers: { range: `bytes=${bytes.byteLength}-` } })).status,
  ).toBe(416)
  // The same answer on the other documented paths.
  const other = await fetch(`${nginx.url}/tracks/stream/${id}`, {
    headers: { authorization: `Bearer ${alice}`, range: 'bytes=0-3' },
  })
  expect(new TextDecoder().decode(await other.arrayBuffer())).toBe('RIFF')
})

test("without a valid token, for an unknown id, or another user's upload, the instance's error comes back", async () => {
  const id = libraryTrackId(RELATIVE_PATH)
  const anonymous = await fetch(streamUrl(id))
  expect(anonymous.status).toBe(401)
  expect(await anonymous.json()).toMatchObject({ status: 'error', code: 'MISSING_TOKEN' })
  expect((await fetch(streamUrl('0123456789abcdef', alice))).status).toBe(404)

  const form = new FormData()
  form.append('file', new Blob([bytes]), 'mine.wav')
  const uploaded = await fetch(`${nginx.url}/api/tracks`, {
    method: 'POST',
    headers: { authorization: `Bearer ${alice}` },
    body: form,
  })
  expect(uploaded.status).toBe(201)
  const { data } = (await uploaded.json()) as { data: { id: string } }
  const mine = await fetch(streamUrl(data.id, alice), { headers: { range: 'bytes=0-3' } })
  expect(mine.status).toBe(206)
  expect(new TextDecoder().decode(await mine.arrayBuffer())).toBe('RIFF')
  expect((await fetch(streamUrl(data.id, bob))).status).toBe(404)
})

test("a player's ranges after the first are sent by nginx alone, from its cache of the check", async () => {
  const id = libraryTrackId(RELATIVE_PATH)
  const carol = await server.token('carol')
  const first = await fetch(streamUrl(id, carol), {
    headers: { range: 'bytes=0-99', origin: 'https://app.example' },
  })
  expect(first.status).toBe(206)
  const checkId = first.headers.get('x-request-id')
  for (let n = 1; n < 5; n++) {
    const next = await fetch(streamUrl(id, carol), {
      headers: { range: `bytes=${n * 100}-${n * 100 + 99}`, origin: 'https://app.example' },
    })
    expect(new Uint8Array(await next.arrayBuffer())).toEqual(bytes.slice(n * 100, n * 100 + 100))
    // The id of the one check that allowed them all: the instance saw no other request.
    expect(next.headers.get('x-request-id')).toBe(checkId)
    expect(next.headers.get('access-control-allow-origin')).toBe('https://app.example')
  }
  // Another user, or the same one from another origin, is checked on its own.
  const other = await fetch(streamUrl(id, alice), {
    headers: { range: 'bytes=0-99', origin: 'https://app.example' },
  })
  expect(other.headers.get('x-request-id')).not.toBe(checkId)
})

test('a kept check never outlives its token: once the token expires the instance answers 401', async () => {
  const id = libraryTrackId(RELATIVE_PATH)
  const brief = await server.token('dave', { ttlSeconds: 2 })
  expect((await fetch(streamUrl(id, brief), { headers: { range: 'bytes=0-9' } })).status).toBe(206)
  const check = await fetch(`${server.url}/api/stream/${id}?token=${brief}`, {
    headers: { 'x-airwave-stream-check': '1' },
  })
  expect(Number(check.headers.get('x-accel-expires'))).toBeLessThanOrEqual(2)
  await Bun.sleep(3000)
  const late = await fetch(streamUrl(id, brief), { headers: { range: 'bytes=0-9' } })
  expect(late.status).toBe(401)
  expect(await late.json()).toMatchObject({ status: 'error', code: 'INVALID_TOKEN' })
})

test('the internal locations cannot be reached from outside', async () => {
  for (const path of [
    '/_airwave_files/library/Folk%20%26%20Blues/Song%20%231%20(live).wav',
    '/_airwave_files/uploads/x',
  ])
    expect((await fetch(`${nginx.url}${path}`)).status).toBe(404)
})
