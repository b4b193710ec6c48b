import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { statSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Elysia } from 'elysia'
import { errorHandler } from '../../src/http/error-handler.ts'
import {
  etagFor,
  fileSource,
  ifNoneMatchMatches,
  ifRangeAllows,
  MAX_MULTIPART_BYTES,
  parseRange,
  type RangeSource,
  serveRange,
} from '../../src/http/range.ts'
import { RangeNotSatisfiableError, ServiceUnavailableError } from '../../src/platform/errors.ts'
import { MAX_BUFFERED_RANGE_BYTES, OpenFiles } from '../../src/platform/open-files.ts'

describe('parseRange', () => {
  const size = 1000

  test.each([
    ['absent', undefined],
    ['null', null],
    ['empty', ''],
    ['no equals sign', 'bytes 0-10'],
    ['other unit', 'items=0-10'],
    ['unit only', 'bytes='],
    ['only commas', 'bytes=, ,'],
    ['bare dash', 'bytes=-'],
    ['letters', 'bytes=a-b'],
    ['negative start', 'bytes=--5'],
    ['decimal', 'bytes=1.5-2'],
    ['end before start', 'bytes=5-2'],
    ['one invalid spec poisons the set', 'bytes=0-1,5-2'],
    ['missing dash', 'bytes=5'],
    ['two dashes', 'bytes=1-2-3'],
    ['plus sign', 'bytes=+1-2'],
  ])('%s is ignored', (_name, header) => {
    expect(parseRange(header, size)).toEqual({ kind: 'none' })
  })

  test.each([
    ['closed', 'bytes=0-499', 0, 499],
    ['open', 'bytes=500-', 500, 999],
    ['last byte', 'bytes=999-999', 999, 999],
    ['first byte', 'bytes=0-0', 0, 0],
    ['probe', 'bytes=0-1', 0, 1],
    ['end clamped to size-1', 'bytes=900-5000', 900, 999],
    ['suffix', 'bytes=-100', 900, 999],
    ['suffix longer than file', 'bytes=-5000', 0, 999],
    ['whole file as suffix', 'bytes=-1000', 0, 999],
    ['unit is case-insensitive', 'BYTES=1-2', 1, 2],
    ['whitespace everywhere', '  bytes = 1 - 2 ', 1, 2],
    ['empty list elements', 'bytes=, 3-4 ,', 3, 4],
    ['unsatisfiable specs are dropped', 'bytes=5000-6000, 7-8', 7, 8],
    ['zero suffix dropped beside a good one', 'bytes=-0,1-1', 1, 1],
    ['leading zeros', 'bytes=0010-0020', 10, 20],
  ])('%s: %s', (_name, header, start, end) => {
    expect(parseRange(header, size)).toEqual({ kind: 'single', start, end })
  })

  test.each([
    ['start at size', 'bytes=1000-'],
    ['start past size', 'bytes=1000-2000'],
    ['zero suffix', 'bytes=-0'],
    ['every spec unsatisfiable', 'bytes=1000-,2000-3000,-0'],
  ])('%s is unsatisfiable', (_name, header) => {
    expect(parseRange(header, size)).toEqual({ kind: 'unsatisfiable' })
  })

  test('several ranges keep request order', () => {
    expect(parseRange('bytes=500-599,0-9,-10', size)).toEqual({
      kind: 'multi',
      ranges: [
        { start: 500, end: 599 },
        { start: 0, end: 9 },
        { start: 990, end: 999 },
      ],
    })
  })

  test('overlapping and adjacent ranges are coalesced', () => {
    expect(parseRange('bytes=0-,0-,0-', size)).toEqual({ kind: 'single', start: 0, end: 999 })
    expect(parseRange('bytes=0-9,10-19', size)).toEqual({ kind: 'single', start: 0, end: 19 })
    expect(parseRange('bytes=100-199,0-9,150-300,5-20', size)).toEqual({
      kind: 'multi',
      ranges: [
        { start: 100, end: 300 },
        { start: 0, end: 20 },
      ],
    })
    // The third range bridges the first two into one.
    expect(parseRange('bytes=0-9,20-29,10-19', size)).toEqual({ kind: 'single', start: 0, end: 29 })
  })

  test('too many range-specs are ignored', () => {
    const specs = Array.from({ length: 65 }, (_, i) => `${i * 10}-${i * 10 + 1}`).join(',')
    expect(parseRange(`bytes=${specs}`, size)).toEqual({ kind: 'none' })
  })

  test('huge numbers clamp rather than overflow', () => {
    expect(parseRange('bytes=0-99999999999999999999999', size)).toEqual({
      kind: 'single',
      start: 0,
      end: 999,
    })
    expect(parseRange('bytes=99999999999999999999999-', size)).toEqual({ kind: 'unsatisfiable' })
  })

  describe('zero-length representation', () => {
    test('any int-range is unsatisfiable', () => {
      expect(parseRange('bytes=0-', 0)).toEqual({ kind: 'unsatisfiable' })
      expect(parseRange('bytes=0-1', 0)).toEqual({ kind: 'unsatisfiable' })
    })
    test('a non-empty suffix is satisfiable but empty, so the whole (empty) body is served', () => {
      expect(parseRange('bytes=-5', 0)).toEqual({ kind: 'none' })
    })
    test('a zero suffix is unsatisfiable', () => {
      expect(parseRange('bytes=-0', 0)).toEqual({ kind: 'unsatisfiable' })
    })
  })

  test('one-byte file', () => {
    expect(parseRange('bytes=0-1', 1)).toEqual({ kind: 'single', start: 0, end: 0 })
    expect(parseRange('bytes=-1', 1)).toEqual({ kind: 'single', start: 0, end: 0 })
    expect(parseRange('bytes=1-', 1)).toEqual({ kind: 'unsatisfiable' })
  })
})

describe('ifRangeAllows', () => {
  const lastModified = new Date('2025-03-04T05:06:07.890Z')
  const validators = { etag: '"abc"', lastModified }

  test('absent If-Range allows the range', () => {
    expect(ifRangeAllows(null, validators)).toBe(true)
    expect(ifRangeAllows(undefined, validators)).toBe(true)
  })
  test('strong etag match', () => {
    expect(ifRangeAllows('"abc"', validators)).toBe(true)
    expect(ifRangeAllows(' "abc" ', validators)).toBe(true)
  })
  test('different etag', () => {
    expect(ifRangeAllows('"abd"', validators)).toBe(false)
  })
  test('weak etags never match', () => {
    expect(ifRangeAllows('W/"abc"', validators)).toBe(false)
    expect(ifRangeAllows('"abc"', { etag: 'W/"abc"', lastModified })).toBe(false)
    expect(ifRangeAllows('W/"abc"', { etag: 'W/"abc"', lastModified })).toBe(false)
  })
  test('etag without our etag', () => {
    expect(ifRangeAllows('"abc"', { lastModified })).toBe(false)
  })
  test('HTTP-date equal to Last-Modified at second resolution', () => {
    expect(ifRangeAllows('Tue, 04 Mar 2025 05:06:07 GMT', validators)).toBe(true)
    expect(ifRangeAllows('Tuesday, 04-Mar-25 05:06:07 GMT', validators)).toBe(true)
  })
  test('other dates do not match, not even later ones', () => {
    expect(ifRangeAllows('Tue, 04 Mar 2025 05:06:06 GMT', validators)).toBe(false)
    expect(ifRangeAllows('Tue, 04 Mar 2025 05:06:08 GMT', validators)).toBe(false)
  })
  test('garbage and dates without Last-Modified', () => {
    expect(ifRangeAllows('not a date', validators)).toBe(false)
    expect(ifRangeAllows('12345', validators)).toBe(false)
    expect(ifRangeAllows('Tue, 04 Mar 2025 05:06:07 GMT', { etag: '"abc"' })).toBe(false)
  })
})

describe('ifNoneMatchMatches', () => {
  test('star matches anything', () => {
    expect(ifNoneMatchMatches('*', '"x"')).toBe(true)
    expect(ifNoneMatchMatches('*', undefined)).toBe(true)
  })
  test('weak comparison across a list', () => {
    expect(ifNoneMatchMatches('"a", W/"x"', '"x"')).toBe(true)
    expect(ifNoneMatchMatches('"x"', 'W/"x"')).toBe(true)
    expect(ifNoneMatchMatches('"a","b"', '"x"')).toBe(false)
    expect(ifNoneMatchMatches('"x"', undefined)).toBe(false)
  })
})

const bytes = new TextEncoder().encode('0123456789abcdefghijklmnopqrstuvwxyz')
const lastModified = new Date('2025-01-02T03:04:05Z')

function memorySource(data = bytes): RangeSource {
  return {
    size: data.length,
    contentType: 'audio/mpeg',
    etag: '"v1"',
    lastModified,
    body: (range) => new Blob([range ? data.slice(range.start, range.end + 1) : data]),
  }
}

function get(headers: Record<string, string> = {}, method = 'GET') {
  return new Request('http://localhost/x', { method, headers })
}

describe('serveRange', () => {
  test('200 with the whole body and validators', async () => {
    const response = await serveRange(get(), memorySource(), { headers: { 'Cache-Control': 'private' } })
    expect(response.status).toBe(200)
    expect(Object.fromEntries(response.headers)).toEqual({
      'accept-ranges': 'bytes',
      'cache-control': 'private',
      'content-length': '36',
      'content-type': 'audio/mpeg',
      etag: '"v1"',
      'last-modified': 'Thu, 02 Jan 2025 03:04:05 GMT',
    })
    expect(await response.text()).toBe('0123456789abcdefghijklmnopqrstuvwxyz')
  })

  test("fixed headers: kept per source and per fixed object, never carrying one request's headers into another", async () => {
    const fixed = { 'Cache-Control': 'private, no-cache', 'Content-Type': 'text/html' }
    const source = memorySource()
    const first = await serveRange(get({ range: 'bytes=0-1' }), source, {
      fixedHeaders: fixed,
      headers: { 'x-request-id': 'one', 'access-control-allow-origin': 'https://a.example' },
    })
    const second = await serveRange(get({ range: 'bytes=2-3' }), source, {
      fixedHeaders: fixed,
      headers: { 'x-request-id': 'two' },
    })
    expect(Object.fromEntries(second.headers)).toEqual({
      'accept-ranges': 'bytes',
      'cache-control': 'private, no-cache',
      'content-length': '2',
      'content-range': 'bytes 2-3/36',
      // The source decides its type, whatever the route's headers say.
      'content-type': 'audio/mpeg',
      etag: '"v1"',
      'last-modified': 'Thu, 02 Jan 2025 03:04:05 GMT',
      'x-request-id': 'two',
    })
    expect(first.headers.get('x-request-id')).toBe('one')
    expect(first.headers.get('access-control-allow-origin')).toBe('https://a.example')
    // Another version of the file is another source, with its own validators; another fixed object is used as is.
    const next = { ...memorySource(), etag: '"v2"' }
    expect((await serveRange(get(), next, { fixedHeaders: fixed })).headers.get('etag')).toBe('"v2"')
    const other = await serveRange(get(), source, { fixedHeaders: { 'Cache-Control': 'no-store' } })
    expect(other.headers.get('cache-control')).toBe('no-store')
  })

  test('206 with exact Content-Range and Content-Length', async () => {
    const response = await serveRange(get({ range: 'bytes=10-15' }), memorySource())
    expect(response.status).toBe(206)
    expect(response.headers.get('content-range')).toBe('bytes 10-15/36')
    expect(response.headers.get('content-length')).toBe('6')
    expect(response.headers.get('content-type')).toBe('audio/mpeg')
    expect(await response.text()).toBe('abcdef')
  })

  test('suffix and open ranges', async () => {
    const suffix = await serveRange(get({ range: 'bytes=-3' }), memorySource())
    expect(suffix.headers.get('content-range')).toBe('bytes 33-35/36')
    expect(await suffix.text()).toBe('xyz')
    const open = await serveRange(get({ range: 'bytes=34-' }), memorySource())
    expect(open.headers.get('content-range')).toBe('bytes 34-35/36')
    expect(await open.text()).toBe('yz')
  })

  test('unsatisfiable throws 416 carrying bytes */size', async () => {
    const error = await serveRange(get({ range: 'bytes=36-' }), memorySource()).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(RangeNotSatisfiableError)
    expect((error as RangeNotSatisfiableError).status).toBe(416)
    expect((error as RangeNotSatisfiableError).headers).toEqual({ 'Content-Range': 'bytes */36' })
  })

  test('416 rendered through the error handler', async () => {
    const app = new Elysia().use(errorHandler).get('/x', ({ request }) => serveRange(request, memorySource()))
    const response = await app.handle(get({ range: 'bytes=100-200' }))
    expect(response.status).toBe(416)
    expect(response.headers.get('content-range')).toBe('bytes */36')
    expect(await response.json()).toEqual({
      status: 'error',
      message: 'Requested range not satisfiable',
      code: 'RANGE_NOT_SATISFIABLE',
    })
  })

  test('malformed Range serves 200', async () => {
    const response = await serveRange(get({ range: 'bytes=5-2' }), memorySource())
    expect(response.status).toBe(200)
    expect(response.headers.get('content-length')).toBe('36')
  })

  test('If-Range with our strong ETag honours the range, a stale one serves 200', async () => {
    const fresh = await serveRange(get({ range: 'bytes=0-1', 'if-range': '"v1"' }), memorySource())
    expect(fresh.status).toBe(206)
    const stale = await serveRange(get({ range: 'bytes=0-1', 'if-range': '"v0"' }), memorySource())
    expect(stale.status).toBe(200)
    expect(await stale.text()).toHaveLength(36)
    const byDate = await serveRange(
      get({ range: 'bytes=0-1', 'if-range': 'Thu, 02 Jan 2025 03:04:05 GMT' }),
      memorySource(),
    )
    expect(byDate.status).toBe(206)
  })

  test('If-None-Match → 304 with validators and extra headers, no body', async () => {
    const response = await serveRange(get({ 'if-none-match': 'W/"v1"' }), memorySource(), {
      headers: { 'Cache-Control': 'private' },
    })
    expect(response.status).toBe(304)
    expect(response.headers.get('etag')).toBe('"v1"')
    expect(response.headers.get('cache-control')).toBe('private')
    expect(response.headers.get('content-length')).toBeNull()
    expect(await response.text()).toBe('')
  })

  test('If-None-Match wins over Range; a mismatch serves normally', async () => {
    expect(
      (await serveRange(get({ 'if-none-match': '"v1"', range: 'bytes=0-1' }), memorySource())).status,
    ).toBe(304)
    expect(
      (await serveRange(get({ 'if-none-match': '"v2"', range: 'bytes=0-1' }), memorySource())).status,
    ).toBe(206)
  })

  test('If-Modified-Since only applies without If-None-Match', async () => {
    const unchanged = { 'if-modified-since': 'Thu, 02 Jan 2025 03:04:05 GMT' }
    expect((await serveRange(get(unchanged), memorySource())).status).toBe(304)
    expect(
      (await serveRange(get({ 'if-modified-since': 'Thu, 02 Jan 2025 03:04:04 GMT' }), memorySource()))
        .status,
    ).toBe(200)
    expect((await serveRange(get({ ...unchanged, 'if-none-match': '"v2"' }), memorySource())).status).toBe(
      200,
    )
  })

  test('HEAD returns the headers a GET would, without a body', async () => {
    const whole = await serveRange(get({}, 'HEAD'), memorySource())
    expect(whole.status).toBe(200)
    expect(whole.headers.get('content-length')).toBe('36')
    expect(whole.body).toBeNull()
    const part = await serveRange(get({ range: 'bytes=1-2' }, 'HEAD'), memorySource())
    expect(part.status).toBe(206)
    expect(part.headers.get('content-range')).toBe('bytes 1-2/36')
    expect(part.headers.get('content-length')).toBe('2')
    expect(part.body).toBeNull()
  })

  test('HEAD does not read the source', async () => {
    const source = { ...memorySource(), body: () => Promise.reject(new Error('read on HEAD')) }
    expect((await serveRange(get({}, 'HEAD'), source)).status).toBe(200)
  })

  test('multiple ranges → multipart/byteranges with per-part headers and exact length', async () => {
    const response = await serveRange(get({ range: 'bytes=0-2, 10-12, -2' }), memorySource(), {
      boundary: 'XYZ',
    })
    expect(response.status).toBe(206)
    expect(response.headers.get('content-type')).toBe('multipart/byteranges; boundary=XYZ')
    expect(response.headers.get('content-range')).toBeNull()
    const body = await response.text()
    expect(body).toBe(
      '--XYZ\r\nContent-Type: audio/mpeg\r\nContent-Range: bytes 0-2/36\r\n\r\n012\r\n' +
        '--XYZ\r\nContent-Type: audio/mpeg\r\nContent-Range: bytes 10-12/36\r\n\r\nabc\r\n' +
        '--XYZ\r\nContent-Type: audio/mpeg\r\nContent-Range: bytes 34-35/36\r\n\r\nyz\r\n' +
        '--XYZ--\r\n',
    )
    expect(response.headers.get('content-length')).toBe(String(new TextEncoder().encode(body).length))
  })

  test('multipart boundary is random by default', async () => {
    const response = await serveRange(get({ range: 'bytes=0-0,2-2' }), memorySource())
    const boundary = /boundary=(\w+)$/.exec(response.headers.get('content-type') ?? '')?.[1]
    expect(boundary).toMatch(/^[0-9a-f]{32}$/)
    expect(await response.text()).toContain(`--${boundary}--\r\n`)
  })

  test('multipart parts may come from streams', async () => {
    const source: RangeSource = {
      ...memorySource(),
      body: (range) => new Blob([bytes.slice(range?.start, (range?.end ?? 35) + 1)]).stream(),
    }
    const response = await serveRange(get({ range: 'bytes=0-0,35-35' }), source, { boundary: 'b' })
    expect(await response.text()).toBe(
      '--b\r\nContent-Type: audio/mpeg\r\nContent-Range: bytes 0-0/36\r\n\r\n0\r\n' +
        '--b\r\nContent-Type: audio/mpeg\r\nContent-Range: bytes 35-35/36\r\n\r\nz\r\n--b--\r\n',
    )
  })

  test('each multipart part stream is read for exactly its bytes, then cancelled', async () => {
    let cancelled = 0
    const endless = (): RangeSource => ({
      ...memorySource(),
      body: () =>
        new ReadableStream<Uint8Array>({
          pull: (controller) => controller.enqueue(new Uint8Array(4).fill(7)),
          cancel: () => {
            cancelled++
          },
        }),
    })
    const response = await serveRange(get({ range: 'bytes=0-3,10-13' }), endless(), { boundary: 'b' })
    expect(await response.text()).toContain('\x07\x07\x07\x07\r\n--b\r\n')
    expect(cancelled).toBe(2)
    // A source that gives more than the range asked for fails the response instead of growing memory.
    await expect(serveRange(get({ range: 'bytes=0-2,10-12' }), endless())).rejects.toThrow('read more')
    expect(cancelled).toBe(3)
  })

  test(`multipart bodies past ${MAX_MULTIPART_BYTES} bytes: Range is ignored, the whole representation is sent`, async () => {
    const big = memorySource(new Uint8Array(MAX_MULTIPART_BYTES + 100))
    const response = await serveRange(get({ range: `bytes=0-9,-${MAX_MULTIPART_BYTES}` }), big)
    expect(response.status).toBe(200)
    expect(response.headers.get('content-length')).toBe(String(MAX_MULTIPART_BYTES + 100))
    const fits = await serveRange(get({ range: `bytes=0-9,-${MAX_MULTIPART_BYTES - 400}` }), big)
    expect(fits.status).toBe(206)
  })

  test('zero-length representation', async () => {
    const empty = memorySource(new Uint8Array(0))
    const whole = await serveRange(get(), empty)
    expect(whole.status).toBe(200)
    expect(whole.headers.get('content-length')).toBe('0')
    expect(await whole.text()).toBe('')
    expect((await serveRange(get({ range: 'bytes=-5' }), empty)).status).toBe(200)
    const error = await serveRange(get({ range: 'bytes=0-' }), empty).catch((e: unknown) => e)
    expect((error as RangeNotSatisfiableError).headers).toEqual({ 'Content-Range': 'bytes */0' })
  })
})

describe('fileSource', () => {
  let dir: string
  let path: string
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'airwave-range-'))
    path = join(dir, 'track.mp3')
    await Bun.write(path, bytes)
  })
  afterAll(() => rm(dir, { recursive: true, force: true }))

  test('serves slices of a local file with the extension type and a size/mtime etag', async () => {
    const file = Bun.file(path)
    const modified = new Date(file.lastModified)
    const source = fileSource(file, { size: file.size, lastModified: modified })
    expect(source.contentType).toBe('audio/mpeg')
    expect(source.etag).toBe(etagFor(36, modified))
    const response = await serveRange(get({ range: 'bytes=35-' }), source)
    expect(response.headers.get('content-range')).toBe('bytes 35-35/36')
    expect(await response.text()).toBe('z')
    expect(await (await serveRange(get(), source)).text()).toBe('0123456789abcdefghijklmnopqrstuvwxyz')
  })

  test('small ranges come from a kept-open descriptor; large ones and the whole file stay BunFile slices', async () => {
    const openFiles = new OpenFiles(2)
    const identity = statSync(path)
    const source = fileSource(Bun.file(path), {
      size: 36,
      lastModified,
      smallRanges: { openFiles, path, identity },
    })
    const small = await source.body({ start: 3, end: 5 })
    expect(small).toBeInstanceOf(Uint8Array)
    expect(Buffer.from(small as Uint8Array).toString()).toBe('345')
    expect(openFiles.size).toBe(1)
    expect(await source.body()).toBeInstanceOf(Blob)
    const big = fileSource(Bun.file(path), {
      size: MAX_BUFFERED_RANGE_BYTES + 1,
      lastModified,
      smallRanges: { openFiles, path, identity },
    })
    expect(await big.body({ start: 0, end: MAX_BUFFERED_RANGE_BYTES })).toBeInstanceOf(Blob)
    // Shorter on disk than its stat said: a 503 to retry, never a response shorter than its Content-Length.
    const stale = fileSource(Bun.file(path), {
      size: 100,
      lastModified,
      smallRanges: { openFiles, path, identity },
    })
    expect(() => stale.body({ start: 30, end: 59 })).toThrow(ServiceUnavailableError)
    openFiles.closeAll()
  })

  test('bytes lent by the kept-open descriptor are copied where they are used: responses, multipart parts', async () => {
    const openFiles = new OpenFiles(2)
    const source = fileSource(Bun.file(path), {
      size: 36,
      lastModified,
      smallRanges: { openFiles, path, identity: statSync(path) },
    })
    // Both responses exist before either body is read; the second read reuses the first one's buffer.
    const first = await serveRange(get({ range: 'bytes=0-9' }), source)
    const second = await serveRange(get({ range: 'bytes=26-35' }), source)
    expect(await first.text()).toBe('0123456789')
    expect(await second.text()).toBe('qrstuvwxyz')
    // Two multipart answers assembled at once: each part is copied before the other answer reads its own.
    const [one, other] = await Promise.all([
      serveRange(get({ range: 'bytes=0-2, 10-12, 33-35' }), source, { boundary: 'B' }),
      serveRange(get({ range: 'bytes=3-5, 20-22' }), source, { boundary: 'B' }),
    ])
    const text = await one.text()
    expect(text).toContain('\r\n\r\n012\r\n--B')
    expect(text).toContain('\r\n\r\nabc\r\n--B')
    expect(text).toContain('\r\n\r\nxyz\r\n--B--')
    const otherText = await other.text()
    expect(otherText).toContain('\r\n\r\n345\r\n--B')
    expect(otherText).toContain('\r\n\r\nklm\r\n--B--')
    openFiles.closeAll()
  })

  test('a real server keeps our Content-Range on a sendfile slice', async () => {
    const source = fileSource(Bun.file(path), { size: 36, lastModified })
    const server = Bun.serve({
      port: 0,
      hostname: '127.0.0.1',
      fetch: (request) => serveRange(request, source),
    })
    try {
      const response = await fetch(`http://127.0.0.1:${server.port}/`, { headers: { range: 'bytes=3-5' } })
      expect(response.status).toBe(206)
      expect(response.headers.get('content-range')).toBe('bytes 3-5/36')
      expect(response.headers.get('content-length')).toBe('3')
      expect(await response.text()).toBe('345')
    } finally {
      server.stop(true)
    }
  })
})

describe('parseRange: the simple-form shortcut', () => {
  test('`bytes=a-b` and `bytes=a-` give what the general parser gives (a trailing comma forces the general path)', () => {
    const headers = [
      'bytes=0-0',
      'bytes=0-1',
      'bytes=10-19',
      'bytes=500-',
      'bytes=999-',
      'bytes=1000-',
      'bytes=1000-2000',
      'bytes=5-2',
      'bytes=0-99999999999999999999',
      'bytes=007-010',
    ]
    for (const size of [0, 1, 1000]) {
      for (const header of headers) {
        expect({ header, size, range: parseRange(header, size) }).toEqual({
          header,
          size,
          range: parseRange(`${header},`, size),
        })
      }
    }
  })
})
