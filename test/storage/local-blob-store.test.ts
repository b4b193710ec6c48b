import { afterAll, beforeEach, describe, expect, test } from 'bun:test'
import { mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Elysia } from 'elysia'
import { blobRoutes } from '../../src/blobs/routes.ts'
import { errorHandler } from '../../src/http/error-handler.ts'
import {
  BadRequestError,
  ConflictError,
  NotFoundError,
  RangeNotSatisfiableError,
} from '../../src/platform/errors.ts'
import { createBlobStore } from '../../src/platform/storage/index.ts'
import { LocalBlobStore } from '../../src/platform/storage/local-blob-store.ts'
import { UrlSigner } from '../../src/platform/storage/url-signer.ts'

const BASE_URL = 'http://airwave.test'
const SECRET = 'test-signing-secret-0123456789'
const created: string[] = []

async function setup() {
  const root = await mkdtemp(join(tmpdir(), 'airwave-blobs-'))
  created.push(root)
  let now = Date.UTC(2025, 0, 1)
  const clock = {
    advance: (seconds: number) => {
      now += seconds * 1000
    },
  }
  const signer = new UrlSigner(SECRET, () => now)
  const store = new LocalBlobStore(join(root, 'blobs'), `${BASE_URL}/`, signer)
  const app = new Elysia().use(errorHandler).use(blobRoutes(store, signer))
  return { root, store, signer, app, clock }
}

afterAll(async () => {
  await Promise.all(created.map((dir) => rm(dir, { recursive: true, force: true })))
})

const text = (value: string) => new TextEncoder().encode(value)
const readText = (stream: ReadableStream<Uint8Array>) => new Response(stream).text()

describe('LocalBlobStore', () => {
  let ctx: Awaited<ReturnType<typeof setup>>
  beforeEach(async () => {
    ctx = await setup()
  })

  test('put then stat and read', async () => {
    const info = await ctx.store.put('jobs/42/chapter_1.mp3', text('hello blob'), 'audio/mpeg')
    expect(info).toMatchObject({ key: 'jobs/42/chapter_1.mp3', size: 10, contentType: 'audio/mpeg' })
    expect(info.lastModified).toBeInstanceOf(Date)
    expect(await ctx.store.stat('jobs/42/chapter_1.mp3')).toEqual(info)
    expect(await readText(await ctx.store.read('jobs/42/chapter_1.mp3'))).toBe('hello blob')
  })

  test('put accepts a Blob and a ReadableStream', async () => {
    await ctx.store.put('a/blob.bin', new Blob([text('from a blob')]), 'application/octet-stream')
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(text('from '))
        controller.enqueue(text('a stream'))
        controller.close()
      },
    })
    await ctx.store.put('a/stream.txt', stream, 'text/plain')
    expect(await readText(await ctx.store.read('a/blob.bin'))).toBe('from a blob')
    expect(await readText(await ctx.store.read('a/stream.txt'))).toBe('from a stream')
    expect((await ctx.store.stat('a/stream.txt'))?.contentType).toBe('text/plain')
  })

  test('the stored content type wins over the extension; an empty blob works', async () => {
    await ctx.store.put('x/data.mp3', new Uint8Array(0), 'audio/ogg')
    expect(await ctx.store.stat('x/data.mp3')).toMatchObject({ size: 0, contentType: 'audio/ogg' })
    expect(await readText(await ctx.store.read('x/data.mp3'))).toBe('')
  })

  test('put replaces atomically and leaves no temp files behind', async () => {
    await ctx.store.put('k', text('first version'), 'text/plain')
    await ctx.store.put('k', text('second'), 'text/csv')
    expect(await ctx.store.stat('k')).toMatchObject({ size: 6, contentType: 'text/csv' })
    expect(await readdir(join(ctx.root, 'blobs', '.tmp'))).toEqual([])
  })

  test('a failed write leaves the previous blob and no temp files', async () => {
    await ctx.store.put('k', text('kept'), 'text/plain')
    const failing = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(text('partial'))
        controller.error(new Error('client went away'))
      },
    })
    await expect(ctx.store.put('k', failing, 'text/plain')).rejects.toThrow()
    expect(await readText(await ctx.store.read('k'))).toBe('kept')
    expect(await readdir(join(ctx.root, 'blobs', '.tmp'))).toEqual([])
  })

  test('read with inclusive ranges', async () => {
    await ctx.store.put('r', text('0123456789'), 'text/plain')
    expect(await readText(await ctx.store.read('r', { start: 2, end: 4 }))).toBe('234')
    expect(await readText(await ctx.store.read('r', { start: 9, end: 9 }))).toBe('9')
    expect(await readText(await ctx.store.read('r', { start: 8, end: 100 }))).toBe('89')
    await expect(ctx.store.read('r', { start: 10, end: 12 })).rejects.toBeInstanceOf(RangeNotSatisfiableError)
    await expect(ctx.store.read('r', { start: 5, end: 4 })).rejects.toBeInstanceOf(RangeNotSatisfiableError)
  })

  test('missing blobs: stat null, read NotFoundError, delete is a no-op', async () => {
    expect(await ctx.store.stat('nope/x')).toBeNull()
    await expect(ctx.store.read('nope/x')).rejects.toBeInstanceOf(NotFoundError)
    await ctx.store.delete('nope/x')
  })

  test('a directory is not a blob', async () => {
    await ctx.store.put('dir/file', text('x'), 'text/plain')
    expect(await ctx.store.stat('dir')).toBeNull()
    await expect(ctx.store.put('dir', text('y'), 'text/plain')).rejects.toBeInstanceOf(ConflictError)
    await expect(ctx.store.put('dir/file/child', text('y'), 'text/plain')).rejects.toBeInstanceOf(
      ConflictError,
    )
  })

  test('delete removes the blob and its empty directories', async () => {
    await ctx.store.put('jobs/1/a.mp3', text('a'), 'audio/mpeg')
    await ctx.store.delete('jobs/1/a.mp3')
    expect(await ctx.store.stat('jobs/1/a.mp3')).toBeNull()
    expect(await readdir(join(ctx.root, 'blobs'))).toEqual(['.tmp'])
    // The pruned path can now be a blob itself.
    await ctx.store.put('jobs', text('file now'), 'text/plain')
    expect(await ctx.store.stat('jobs')).not.toBeNull()
  })

  test('deletePrefix with a directory prefix deletes everything under it only', async () => {
    await ctx.store.put('jobs/42/a.mp3', text('a'), 'audio/mpeg')
    await ctx.store.put('jobs/42/sub/b.mp3', text('b'), 'audio/mpeg')
    await ctx.store.put('jobs/420/c.mp3', text('c'), 'audio/mpeg')
    await ctx.store.put('jobs/4', text('d'), 'text/plain')
    await ctx.store.deletePrefix('jobs/42/')
    expect(await ctx.store.stat('jobs/42/a.mp3')).toBeNull()
    expect(await ctx.store.stat('jobs/42/sub/b.mp3')).toBeNull()
    expect(await ctx.store.stat('jobs/420/c.mp3')).not.toBeNull()
    expect(await ctx.store.stat('jobs/4')).not.toBeNull()
  })

  test('deletePrefix with a partial name matches like S3 prefixes', async () => {
    await ctx.store.put('jobs/42/chapter_1.mp3', text('1'), 'audio/mpeg')
    await ctx.store.put('jobs/42/chapter_2.mp3', text('2'), 'audio/mpeg')
    await ctx.store.put('jobs/42/cover.jpg', text('c'), 'image/jpeg')
    await ctx.store.put('jobs/42/chapters/x.mp3', text('x'), 'audio/mpeg')
    await ctx.store.deletePrefix('jobs/42/chapter')
    expect(await ctx.store.stat('jobs/42/chapter_1.mp3')).toBeNull()
    expect(await ctx.store.stat('jobs/42/chapter_2.mp3')).toBeNull()
    expect(await ctx.store.stat('jobs/42/chapters/x.mp3')).toBeNull()
    expect(await ctx.store.stat('jobs/42/cover.jpg')).not.toBeNull()
    await ctx.store.deletePrefix('missing/prefix/')
    await ctx.store.deletePrefix('jobs/42/cover.jpg')
    expect(await readdir(join(ctx.root, 'blobs'))).toEqual(['.tmp'])
  })

  test.each([
    ['empty', ''],
    ['absolute', '/etc/passwd'],
    ['parent', '../escape'],
    ['nested parent', 'a/../../escape'],
    ['dot segment', 'a/./b'],
    ['hidden name', 'a/.secret'],
    ['temp dir', '.tmp/x'],
    ['backslash', 'a\\..\\..\\b'],
    ['NUL', 'a\u0000b'],
    ['newline', 'a\nb'],
    ['DEL', 'a\u007fb'],
    ['empty segment', 'a//b'],
    ['trailing slash', 'a/b/'],
    ['too long', 'x'.repeat(1025)],
  ])('rejects %s keys everywhere', async (_name, key) => {
    const calls = [
      () => ctx.store.put(key, text('x'), 'text/plain'),
      () => ctx.store.stat(key),
      () => ctx.store.read(key),
      () => ctx.store.delete(key),
      () => ctx.store.signedUrl(key, { expiresIn: 60 }),
    ]
    for (const call of calls) await expect(call()).rejects.toBeInstanceOf(BadRequestError)
  })

  test('a C1 control character is allowed in a key (only backslashes and ASCII controls are refused)', async () => {
    await ctx.store.put('a/x\u0085y', text('c1'), 'text/plain')
    expect(await readText(await ctx.store.read('a/x\u0085y'))).toBe('c1')
  })

  test.each(['', '/', '../', 'a/../', '/abs/', 'a//', '.tmp/'])('rejects prefix %p', async (prefix) => {
    await expect(ctx.store.deletePrefix(prefix)).rejects.toBeInstanceOf(BadRequestError)
  })

  test('check succeeds on a writable directory and fails when the root cannot be a directory', async () => {
    await ctx.store.check()
    const notADirectory = join(ctx.root, 'plain-file')
    await Bun.write(notADirectory, 'x')
    const store = new LocalBlobStore(join(notADirectory, 'blobs'), BASE_URL, ctx.signer)
    await expect(store.check()).rejects.toThrow()
  })

  test('createBlobStore picks the local store without an S3 bucket', () => {
    const options = { rootDir: ctx.root, publicBaseUrl: BASE_URL, signer: ctx.signer }
    expect(createBlobStore(options).kind).toBe('local')
    expect(createBlobStore({ ...options, s3: { region: 'us-east-1', bucket: '' } }).kind).toBe('local')
    expect(createBlobStore({ ...options, s3: { region: 'us-east-1', bucket: 'b' } }).kind).toBe('s3')
  })
})

describe('signed URLs through blobRoutes', () => {
  let ctx: Awaited<ReturnType<typeof setup>>
  const key = 'shows/My Show/episode #1 (100%).mp3'
  const body = 'ID3-fake-mp3-bytes-0123456789'
  beforeEach(async () => {
    ctx = await setup()
    await ctx.store.put(key, text(body), 'audio/mpeg')
  })

  const signedOptions = {
    expiresIn: 300,
    contentType: 'audio/mpeg',
    contentDisposition: 'attachment; filename="episode 1.mp3"',
    cacheControl: 'private, max-age=300',
  }

  test('the URL points at the public base with the key encoded per segment', async () => {
    const { url, expiresAt } = await ctx.store.signedUrl(key, signedOptions)
    const parsed = new URL(url)
    expect(parsed.origin).toBe(BASE_URL)
    expect(parsed.pathname).toBe('/blobs/shows/My%20Show/episode%20%231%20(100%25).mp3')
    expect([...parsed.searchParams.keys()]).toEqual(['expires', 'ct', 'cd', 'cc', 'sig'])
    expect(parsed.searchParams.get('expires')).toBe(String(Date.UTC(2025, 0, 1) / 1000 + 300))
    expect(parsed.searchParams.get('sig')).toMatch(/^[A-Za-z0-9_-]{43}$/)
    expect(expiresAt).toEqual(new Date(Date.UTC(2025, 0, 1) + 300_000))
  })

  test('valid → 200 with the signed headers', async () => {
    const { url } = await ctx.store.signedUrl(key, signedOptions)
    const response = await ctx.app.handle(new Request(url))
    expect(response.status).toBe(200)
    expect(response.headers.get('content-type')).toBe('audio/mpeg')
    expect(response.headers.get('content-disposition')).toBe('attachment; filename="episode 1.mp3"')
    expect(response.headers.get('cache-control')).toBe('private, max-age=300')
    expect(response.headers.get('content-length')).toBe(String(body.length))
    expect(response.headers.get('accept-ranges')).toBe('bytes')
    expect(response.headers.get('etag')).toMatch(/^"[0-9a-f]+-[0-9a-f]+"$/)
    expect(response.headers.get('x-content-type-options')).toBe('nosniff')
    expect(await response.text()).toBe(body)
  })

  test('the signed content type overrides the stored one', async () => {
    const { url } = await ctx.store.signedUrl(key, { expiresIn: 60, contentType: 'application/octet-stream' })
    const response = await ctx.app.handle(new Request(url))
    expect(response.headers.get('content-type')).toBe('application/octet-stream')
    expect(response.headers.get('content-disposition')).toBeNull()
    expect(response.headers.get('cache-control')).toMatch(/^private, max-age=\d+$/)
  })

  test('without signed headers the stored content type is served', async () => {
    const { url } = await ctx.store.signedUrl(key, { expiresIn: 60 })
    expect((await ctx.app.handle(new Request(url))).headers.get('content-type')).toBe('audio/mpeg')
  })

  test('Range → 206 with exact Content-Range', async () => {
    const { url } = await ctx.store.signedUrl(key, signedOptions)
    const response = await ctx.app.handle(new Request(url, { headers: { range: 'bytes=4-7' } }))
    expect(response.status).toBe(206)
    expect(response.headers.get('content-range')).toBe(`bytes 4-7/${body.length}`)
    expect(response.headers.get('content-length')).toBe('4')
    expect(response.headers.get('content-disposition')).toBe('attachment; filename="episode 1.mp3"')
    expect(await response.text()).toBe('fake')
  })

  test('unsatisfiable Range → 416 with bytes */size', async () => {
    const { url } = await ctx.store.signedUrl(key, signedOptions)
    const response = await ctx.app.handle(new Request(url, { headers: { range: 'bytes=1000-' } }))
    expect(response.status).toBe(416)
    expect(response.headers.get('content-range')).toBe(`bytes */${body.length}`)
  })

  test('HEAD → headers only', async () => {
    const { url } = await ctx.store.signedUrl(key, signedOptions)
    const response = await ctx.app.handle(new Request(url, { method: 'HEAD' }))
    expect(response.status).toBe(200)
    expect(response.headers.get('content-length')).toBe(String(body.length))
    expect(await response.text()).toBe('')
    const part = await ctx.app.handle(new Request(url, { method: 'HEAD', headers: { range: 'bytes=0-1' } }))
    expect(part.status).toBe(206)
    expect(part.headers.get('content-length')).toBe('2')
  })

  test('other methods → 405', async () => {
    const { url } = await ctx.store.signedUrl(key, signedOptions)
    const response = await ctx.app.handle(new Request(url, { method: 'POST', body: 'x' }))
    expect(response.status).toBe(405)
    expect(response.headers.get('allow')).toBe('GET, HEAD')
  })

  test('If-None-Match with the ETag → 304', async () => {
    const { url } = await ctx.store.signedUrl(key, signedOptions)
    const etag = (await ctx.app.handle(new Request(url))).headers.get('etag') as string
    const response = await ctx.app.handle(new Request(url, { headers: { 'if-none-match': etag } }))
    expect(response.status).toBe(304)
  })

  test('expired → 403', async () => {
    const { url } = await ctx.store.signedUrl(key, signedOptions)
    ctx.clock.advance(299)
    expect((await ctx.app.handle(new Request(url))).status).toBe(200)
    ctx.clock.advance(1)
    const response = await ctx.app.handle(new Request(url))
    expect(response.status).toBe(403)
    expect(await response.json()).toEqual({
      status: 'error',
      message: 'This link has expired',
      code: 'SIGNED_URL_EXPIRED',
    })
  })

  describe('tampered → 403', () => {
    const tamperings: [string, (url: URL) => void][] = [
      [
        'one character of sig',
        (url) => {
          const sig = url.searchParams.get('sig') as string
          url.searchParams.set('sig', (sig[0] === 'A' ? 'B' : 'A') + sig.slice(1))
        },
      ],
      [
        'last character of sig',
        (url) => {
          const sig = url.searchParams.get('sig') as string
          url.searchParams.set('sig', sig.slice(0, -1) + (sig.endsWith('A') ? 'B' : 'A'))
        },
      ],
      ['sig removed', (url) => url.searchParams.delete('sig')],
      ['sig padded', (url) => url.searchParams.set('sig', `${url.searchParams.get('sig')}=`)],
      ['ct changed', (url) => url.searchParams.set('ct', 'text/html')],
      ['ct removed', (url) => url.searchParams.delete('ct')],
      ['cd changed', (url) => url.searchParams.set('cd', 'inline')],
      ['cc changed', (url) => url.searchParams.set('cc', 'public, max-age=31536000')],
      ['cc emptied', (url) => url.searchParams.set('cc', '')],
      [
        'expires extended',
        (url) => url.searchParams.set('expires', String(Number(url.searchParams.get('expires')) + 3600)),
      ],
      ['expires not a number', (url) => url.searchParams.set('expires', '1e20')],
      ['expires removed', (url) => url.searchParams.delete('expires')],
      ['other key', (url) => (url.pathname = url.pathname.replace('My%20Show', 'Other'))],
    ]
    test.each(tamperings)('%s', async (_name, tamper) => {
      const { url } = await ctx.store.signedUrl(key, signedOptions)
      const tampered = new URL(url)
      tamper(tampered)
      const response = await ctx.app.handle(new Request(tampered))
      expect(response.status).toBe(403)
      expect(((await response.json()) as { code: string }).code).toBe('SIGNED_URL_INVALID')
    })
  })

  test('a URL signed with another secret → 403', async () => {
    const other = new LocalBlobStore(
      join(ctx.root, 'blobs'),
      BASE_URL,
      new UrlSigner('another-secret-0123456789'),
    )
    const { url } = await other.signedUrl(key, signedOptions)
    expect((await ctx.app.handle(new Request(url))).status).toBe(403)
  })

  test('a valid signature for a missing blob → 404', async () => {
    const { url } = await ctx.store.signedUrl('shows/gone.mp3', signedOptions)
    const response = await ctx.app.handle(new Request(url))
    expect(response.status).toBe(404)
  })

  test('traversal attempts never reach the filesystem', async () => {
    // A signature for a traversal key can only come from the server, which refuses to make one...
    await expect(ctx.store.signedUrl('../secret', signedOptions)).rejects.toBeInstanceOf(BadRequestError)
    // ...and a forged one is rejected before the key is looked at.
    for (const path of [
      '/blobs/..%2F..%2Fetc%2Fpasswd',
      '/blobs/%2e%2e/%2e%2e/etc/passwd',
      '/blobs/a%5C..%5Cb',
    ]) {
      // (`%2e%2e` segments are resolved by the URL parser itself and leave /blobs/ altogether: 404.)
      const response = await ctx.app.handle(new Request(`${BASE_URL}${path}?expires=9999999999&sig=x`))
      expect([403, 404]).toContain(response.status)
    }
    // Even correctly signed, an invalid key is a 400, not a file read.
    const { query } = ctx.signer.sign('../secret', { expiresIn: 60 })
    const response = await ctx.app.handle(new Request(`${BASE_URL}/blobs/..%2Fsecret?${query}`))
    expect(response.status).toBe(400)
  })

  test('served over a real socket with sendfile slices', async () => {
    const server = ctx.app.listen({ port: 0, hostname: '127.0.0.1' })
    try {
      const { url } = await ctx.store.signedUrl(key, signedOptions)
      const local = new URL(url)
      const response = await fetch(
        `http://127.0.0.1:${server.server?.port}${local.pathname}${local.search}`,
        {
          headers: { range: 'bytes=-6' },
        },
      )
      expect(response.status).toBe(206)
      expect(response.headers.get('content-range')).toBe(
        `bytes ${body.length - 6}-${body.length - 1}/${body.length}`,
      )
      expect(await response.text()).toBe('456789')
      const head = await fetch(`http://127.0.0.1:${server.server?.port}${local.pathname}${local.search}`, {
        method: 'HEAD',
      })
      expect(head.status).toBe(200)
      expect(head.headers.get('content-length')).toBe(String(body.length))
    } finally {
      await server.stop()
    }
  })
})

describe('UrlSigner', () => {
  const signer = new UrlSigner(SECRET, () => 1_000_000)

  test('refuses short secrets and bad lifetimes', () => {
    expect(() => new UrlSigner('short')).toThrow(RangeError)
    expect(() => signer.sign('k', { expiresIn: 0 })).toThrow(RangeError)
    expect(() => signer.sign('k', { expiresIn: 1.5 })).toThrow(RangeError)
  })

  test('absent and empty headers sign differently', () => {
    const absent = signer.sign('k', { expiresIn: 60 }).query
    const empty = signer.sign('k', { expiresIn: 60, cacheControl: '' }).query
    expect(absent.get('sig')).not.toBe(empty.get('sig'))
    expect(signer.verify('k', empty)).toMatchObject({ status: 'ok', headers: { cacheControl: '' } })
  })

  test('fields cannot be shifted between each other', () => {
    const query = signer.sign('k', { expiresIn: 60, contentType: 'a', contentDisposition: 'b' }).query
    query.set('ct', 'b')
    query.set('cd', 'a')
    expect(signer.verify('k', query)).toEqual({ status: 'tampered' })
  })

  test('a tampered expired URL reads as tampered', () => {
    const clocked = { now: 0 }
    const timed = new UrlSigner(SECRET, () => clocked.now)
    const query = timed.sign('k', { expiresIn: 1 }).query
    clocked.now = 10_000
    expect(timed.verify('k', query)).toEqual({ status: 'expired' })
    query.set('expires', '5')
    expect(timed.verify('k', query)).toEqual({ status: 'tampered' })
  })
})
