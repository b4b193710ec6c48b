/**
 * Range streaming against the real server (`bun src/main.ts`, port 0): every answer's bytes are compared with
 * the file on disk.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { mkdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { libraryTrackId } from '../../src/tracks/library.ts'
import { makeTone } from '../support/audio.ts'
import { type RunningServer, startServer } from '../support/server.ts'
import { tempDir } from '../support/tmp.ts'
import { DOCUMENTED_TRACK_FIELDS, parseByteranges, rawGet } from './support.ts'

const library = tempDir('airwave-stream-library-')
let server: RunningServer
let alice: string
let file: Buffer
let size: number
let id: string
let lastModified: string
const RELATIVE_PATH = 'albums/The Testers - Range Song.mp3'

beforeAll(async () => {
  mkdirSync(join(library.path, 'albums'))
  const path = await makeTone(library.path, RELATIVE_PATH, 6, {
    metadata: { title: 'Range Song', artist: 'The Testers', album: 'Fixtures' },
    args: ['-b:a', '128k'],
  })
  file = readFileSync(path)
  size = file.length
  lastModified = statSync(path).mtime.toUTCString()
  id = libraryTrackId(RELATIVE_PATH)
  server = await startServer({ AUDIO_FILES_DIR: library.path })
  alice = await server.token('alice')
})

afterAll(async () => {
  await server?.stop()
  library.remove()
})

const get = (headers: Record<string, string> = {}, init: RequestInit = {}, path = `/api/stream/${id}`) =>
  fetch(`${server.url}${path}`, { ...init, headers: { authorization: `Bearer ${alice}`, ...headers } })

async function bytesOf(response: Response): Promise<Buffer> {
  return Buffer.from(await response.arrayBuffer())
}

/** A 206 for one range: status, Content-Range, Content-Length and the exact bytes. */
async function expectPart(response: Response, first: number, last: number) {
  expect(response.status).toBe(206)
  expect(response.headers.get('content-range')).toBe(`bytes ${first}-${last}/${size}`)
  expect(response.headers.get('content-length')).toBe(String(last - first + 1))
  expect(Buffer.compare(await bytesOf(response), file.subarray(first, last + 1))).toBe(0)
}

async function expectWhole(response: Response) {
  expect(response.status).toBe(200)
  expect(response.headers.get('content-range')).toBeNull()
  expect(response.headers.get('content-length')).toBe(String(size))
  expect(Buffer.compare(await bytesOf(response), file)).toBe(0)
}

describe('GET /api/stream/:trackId', () => {
  test('the whole file with its representation headers', async () => {
    const response = await get()
    expect(response.headers.get('accept-ranges')).toBe('bytes')
    expect(response.headers.get('content-type')).toBe('audio/mpeg')
    expect(response.headers.get('etag')).toMatch(/^"[0-9a-f]+-[0-9a-f]+"$/)
    expect(response.headers.get('last-modified')).toBe(lastModified)
    expect(response.headers.get('cache-control')).toBe('private, no-cache')
    await expectWhole(response)
  })

  test('single, open-ended, suffix, probe and clamped ranges', async () => {
    await expectPart(await get({ range: 'bytes=100-1099' }), 100, 1099)
    await expectPart(await get({ range: 'bytes=500-' }), 500, size - 1)
    await expectPart(await get({ range: 'bytes=-500' }), size - 500, size - 1)
    await expectPart(await get({ range: 'bytes=0-1' }), 0, 1)
    await expectPart(await get({ range: 'bytes=0-0' }), 0, 0)
    await expectPart(await get({ range: `bytes=${size - 1}-` }), size - 1, size - 1)
    await expectPart(await get({ range: `bytes=${size - 10}-${size * 2}` }), size - 10, size - 1)
    await expectPart(await get({ range: `bytes=-${size * 2}` }), 0, size - 1)
  })

  test('416 with Content-Range: bytes */size when no range is satisfiable', async () => {
    for (const range of [`bytes=${size}-`, `bytes=${size + 100}-${size + 200}`, 'bytes=-0']) {
      const response = await get({ range })
      expect(response.status).toBe(416)
      expect(response.headers.get('content-range')).toBe(`bytes */${size}`)
      expect(await response.json()).toMatchObject({ status: 'error', code: 'RANGE_NOT_SATISFIABLE' })
    }
  })

  test('malformed or foreign Range headers are ignored: 200 with the whole file', async () => {
    for (const range of ['bytes=abc', 'bytes=5-2', 'items=0-1', 'bytes=', 'bytes=1-2-3', 'bytes 0-1']) {
      await expectWhole(await get({ range }))
    }
  })

  test('several ranges: multipart/byteranges, each part exact, overlapping ones merged', async () => {
    const response = await get({ range: 'bytes=0-9, 200-299,-50' })
    expect(response.status).toBe(206)
    const contentType = response.headers.get('content-type') as string
    expect(contentType).toMatch(/^multipart\/byteranges; boundary=\S+$/)
    const body = await bytesOf(response)
    expect(response.headers.get('content-length')).toBe(String(body.length))
    const parts = parseByteranges(body, contentType)
    const expected: Array<[number, number]> = [
      [0, 9],
      [200, 299],
      [size - 50, size - 1],
    ]
    expect(parts.map((part) => part.contentRange)).toEqual(
      expected.map(([first, last]) => `bytes ${first}-${last}/${size}`),
    )
    parts.forEach((part, i) => {
      const [first, last] = expected[i] as [number, number]
      expect(part.contentType).toBe('audio/mpeg')
      expect(Buffer.compare(part.bytes, file.subarray(first, last + 1))).toBe(0)
    })

    const merged = await get({ range: 'bytes=0-99,50-149,150-199' })
    await expectPart(merged, 0, 199)
  })

  test('If-Range: the current ETag or date gives the range; a stale one gives the whole file', async () => {
    const etag = (await get({ range: 'bytes=0-0' })).headers.get('etag') as string
    await expectPart(await get({ range: 'bytes=10-19', 'if-range': etag }), 10, 19)
    await expectPart(await get({ range: 'bytes=10-19', 'if-range': lastModified }), 10, 19)
    await expectWhole(await get({ range: 'bytes=10-19', 'if-range': '"0-0"' }))
    await expectWhole(await get({ range: 'bytes=10-19', 'if-range': `W/${etag}` }))
    await expectWhole(await get({ range: 'bytes=10-19', 'if-range': 'Thu, 01 Jan 2004 00:00:00 GMT' }))
  })

  test('If-None-Match / If-Modified-Since: 304 without a body while the file is unchanged', async () => {
    const etag = (await get({ range: 'bytes=0-0' })).headers.get('etag') as string
    const validators: Array<Record<string, string>> = [
      { 'if-none-match': etag },
      { 'if-none-match': `"other", W/${etag}` },
      { 'if-none-match': '*' },
      { 'if-modified-since': lastModified },
    ]
    for (const headers of validators) {
      const response = await get(headers)
      expect(response.status).toBe(304)
      expect(response.headers.get('etag')).toBe(etag)
      expect((await bytesOf(response)).length).toBe(0)
    }
    await expectWhole(await get({ 'if-none-match': '"other"' }))
    await expectWhole(await get({ 'if-modified-since': 'Thu, 01 Jan 2004 00:00:00 GMT' }))
  })

  test('HEAD: the headers a GET would send, with the true Content-Length, and no body', async () => {
    const whole = await get({}, { method: 'HEAD' })
    expect(whole.status).toBe(200)
    expect(whole.headers.get('content-length')).toBe(String(size))
    expect(whole.headers.get('accept-ranges')).toBe('bytes')
    expect((await bytesOf(whole)).length).toBe(0)
    const part = await get({ range: 'bytes=0-1' }, { method: 'HEAD' })
    expect(part.status).toBe(206)
    expect(part.headers.get('content-range')).toBe(`bytes 0-1/${size}`)
    expect(part.headers.get('content-length')).toBe('2')
  })

  test('other methods → 405 with Allow', async () => {
    for (const method of ['POST', 'PUT', 'DELETE', 'PATCH']) {
      const response = await get({}, { method })
      expect(response.status).toBe(405)
      expect(response.headers.get('allow')).toBe('GET, HEAD')
      expect(await response.json()).toMatchObject({ status: 'error', code: 'METHOD_NOT_ALLOWED' })
    }
  })

  test("nginx's stream check (deploy/nginx) gets a bare 403 without TRACK_ACCEL_REDIRECT, so nginx proxies as usual", async () => {
    const response = await get({ 'x-airwave-stream-check': '1' })
    expect(response.status).toBe(403)
    expect(await response.text()).toBe('')
  })

  test('the playback paths serve the same bytes', async () => {
    for (const path of [`/tracks/stream/${id}`, `/api/tracks/stream/${id}`]) {
      await expectPart(await get({ range: 'bytes=1000-1999' }, {}, path), 1000, 1999)
      await expectWhole(await get({}, {}, path))
    }
  })
})

describe('identity', () => {
  test('401 without a token, with a bad or expired one; ?token= works for <audio src>', async () => {
    const url = `${server.url}/api/stream/${id}`
    const noToken = await fetch(url)
    expect(noToken.status).toBe(401)
    expect(await noToken.json()).toMatchObject({ status: 'error', message: expect.any(String) })
    expect((await fetch(url, { headers: { authorization: 'Bearer not-a-jwt' } })).status).toBe(401)
    const expired = await server.token('alice', { ttlSeconds: -60 })
    expect((await fetch(url, { headers: { authorization: `Bearer ${expired}` } })).status).toBe(401)
    expect((await fetch(`${url}?token=${expired}`)).status).toBe(401)
    await expectWhole(await fetch(`${url}?token=${alice}`))
    for (const path of [`/tracks/stream/${id}`, `/api/tracks/stream/${id}`, `/api/stream/${id}/metadata`]) {
      expect((await fetch(`${server.url}${path}`)).status).toBe(401)
    }
  })
})

describe('path traversal', () => {
  test('ids are only looked up, never joined into paths: traversal, absolute paths, NUL bytes → 404', async () => {
    const auth = { authorization: `Bearer ${alice}` }
    const attempts = [
      '/api/stream/..%2f..%2f..%2fetc%2fpasswd',
      '/api/stream/..%2F..%2F..%2F..%2Fetc%2Fpasswd',
      '/api/stream/%2fetc%2fpasswd',
      '/api/stream/%2e%2e%2f%2e%2e%2fetc%2fpasswd',
      `/api/stream/${encodeURIComponent(RELATIVE_PATH)}`,
      `/api/stream/${encodeURIComponent(join(library.path, RELATIVE_PATH))}`,
      `/api/stream/${id}%00`,
      `/api/stream/%00${id}`,
      `/api/stream/${id}%2f..%2f${id}`,
      '/tracks/stream/..%2f..%2fetc%2fpasswd',
      '/api/tracks/stream/%2fetc%2fpasswd',
      '/api/stream/../../../../etc/passwd',
      '/tracks/stream/../../etc/passwd',
      `/api/stream/..%2f..%2f${encodeURIComponent(RELATIVE_PATH)}`,
    ]
    for (const path of attempts) {
      const { status, body } = await rawGet(server.port, path, auth)
      expect({ path, status }).toEqual({ path, status: 404 })
      expect(body).not.toContain('root:')
      expect(body).toContain('"status":"error"')
    }
  })
})

describe('GET /api/stream/:trackId/metadata', () => {
  test('exactly the documented shape, plus our fields', async () => {
    const response = await get({}, {}, `/api/stream/${id}/metadata`)
    expect(response.status).toBe(200)
    const body = (await response.json()) as { status: string; data: Record<string, unknown> }
    expect(Object.keys(body)).toEqual(['status', 'data'])
    expect(body.status).toBe('success')
    expect(body.data.duration as number).toBeCloseTo(6, 0)
    expect(body.data).toMatchObject({
      id,
      title: 'Range Song',
      artist: 'The Testers',
      bitrate: 128,
      format: 'mp3',
      size,
    })
    expect(Object.keys(body.data).slice(0, DOCUMENTED_TRACK_FIELDS.length)).toEqual(DOCUMENTED_TRACK_FIELDS)
    const missing = await get({}, {}, '/api/stream/0000000000000000/metadata')
    expect(missing.status).toBe(404)
    expect(await missing.json()).toMatchObject({ status: 'error', code: 'TRACK_NOT_FOUND' })
  })
})
