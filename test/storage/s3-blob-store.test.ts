import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import S3rver from 's3rver'
import { blobSource, serveRange } from '../../src/http/range.ts'
import { BadRequestError, NotFoundError, RangeNotSatisfiableError } from '../../src/platform/errors.ts'
import { PART_SIZE, S3BlobStore } from '../../src/platform/storage/s3-blob-store.ts'
import { aliasDesCipherForS3rver, sigV4QuerySignature } from '../support/s3.ts'

const BUCKET = 'airwave-test'
// s3rver's only account; it checks the key id but not signatures.
const CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' }
const REGION = 'eu-west-3'

let restoreCiphers: () => void
let directory: string
let server: S3rver
let endpoint: string
let store: S3BlobStore

beforeAll(async () => {
  restoreCiphers = aliasDesCipherForS3rver()
  directory = await mkdtemp(join(tmpdir(), 'airwave-s3rver-'))
  server = new S3rver({
    port: 0,
    address: '127.0.0.1',
    silent: true,
    directory,
    configureBuckets: [{ name: BUCKET, configs: [] }],
  })
  const { port } = await server.run()
  endpoint = `http://127.0.0.1:${port}`
  store = new S3BlobStore({ endpoint, region: REGION, bucket: BUCKET, forcePathStyle: true, ...CREDENTIALS })
})

afterAll(async () => {
  store.close()
  await server.close()
  await rm(directory, { recursive: true, force: true })
  restoreCiphers()
})

const text = (value: string) => new TextEncoder().encode(value)
const readText = (stream: ReadableStream<Uint8Array>) => new Response(stream).text()

describe('S3BlobStore', () => {
  test('check reaches the bucket, and fails for a missing one', async () => {
    await store.check()
    const missing = new S3BlobStore({
      endpoint,
      region: REGION,
      bucket: 'no-such-bucket',
      forcePathStyle: true,
      ...CREDENTIALS,
    })
    await expect(missing.check()).rejects.toThrow()
    missing.close()
  })

  test('put then stat and read', async () => {
    const info = await store.put('jobs/42/chapter_1.mp3', text('hello s3 blob'), 'audio/mpeg')
    expect(info).toMatchObject({ key: 'jobs/42/chapter_1.mp3', size: 13, contentType: 'audio/mpeg' })
    expect(info.lastModified).toBeInstanceOf(Date)
    expect(await store.stat('jobs/42/chapter_1.mp3')).toEqual(info)
    expect(await readText(await store.read('jobs/42/chapter_1.mp3'))).toBe('hello s3 blob')
  })

  test('put accepts a Blob, a ReadableStream and an empty body', async () => {
    await store.put('kinds/blob.bin', new Blob([text('from a blob')]), 'application/octet-stream')
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(text('from '))
        controller.enqueue(text('a stream'))
        controller.close()
      },
    })
    await store.put('kinds/stream.txt', stream, 'text/plain')
    await store.put('kinds/empty', new Uint8Array(0), 'text/plain')
    expect(await readText(await store.read('kinds/blob.bin'))).toBe('from a blob')
    expect(await readText(await store.read('kinds/stream.txt'))).toBe('from a stream')
    expect(await store.stat('kinds/empty')).toMatchObject({ size: 0 })
  })

  test('a stream longer than one part is uploaded in parts and reassembled', async () => {
    const size = PART_SIZE * 2 + 12345
    const source = new Uint8Array(size)
    for (let i = 0; i < size; i++) source[i] = (i * 7) % 251
    // Odd-sized chunks so parts straddle chunk boundaries.
    const chunkSize = 1_000_003
    let offset = 0
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (offset >= size) return controller.close()
        controller.enqueue(source.slice(offset, offset + chunkSize))
        offset += chunkSize
      },
    })
    const info = await store.put('big/book.mp3', stream, 'audio/mpeg')
    expect(info.size).toBe(size)
    const stored = new Uint8Array(await new Response(await store.read('big/book.mp3')).arrayBuffer())
    expect(stored.length).toBe(size)
    expect(Buffer.compare(stored, source)).toBe(0)
    const tail = new Uint8Array(
      await new Response(await store.read('big/book.mp3', { start: size - 3, end: size - 1 })).arrayBuffer(),
    )
    expect([...tail]).toEqual([...source.slice(size - 3)])
  })

  test('read with inclusive ranges', async () => {
    await store.put('r', text('0123456789'), 'text/plain')
    expect(await readText(await store.read('r', { start: 2, end: 4 }))).toBe('234')
    expect(await readText(await store.read('r', { start: 9, end: 9 }))).toBe('9')
    expect(await readText(await store.read('r', { start: 8, end: 100 }))).toBe('89')
    await expect(store.read('r', { start: 5, end: 4 })).rejects.toBeInstanceOf(RangeNotSatisfiableError)
    const beyond = await store.read('r', { start: 10, end: 12 }).catch((error: unknown) => error)
    expect(beyond).toBeInstanceOf(RangeNotSatisfiableError)
    expect((beyond as RangeNotSatisfiableError).headers).toEqual({ 'Content-Range': 'bytes */10' })
  })

  test('blobSource serves an S3 blob with ranges through the server', async () => {
    const info = await store.put('proxied/track.mp3', text('0123456789'), 'audio/mpeg')
    const source = blobSource(store, info)
    const request = (range: string) => new Request('http://airwave.test/t', { headers: { range } })
    const single = await serveRange(request('bytes=-4'), source)
    expect(single.status).toBe(206)
    expect(single.headers.get('content-range')).toBe('bytes 6-9/10')
    expect(await single.text()).toBe('6789')
    const multi = await serveRange(request('bytes=0-1,8-'), source, { boundary: 'B' })
    expect(await multi.text()).toBe(
      '--B\r\nContent-Type: audio/mpeg\r\nContent-Range: bytes 0-1/10\r\n\r\n01\r\n' +
        '--B\r\nContent-Type: audio/mpeg\r\nContent-Range: bytes 8-9/10\r\n\r\n89\r\n--B--\r\n',
    )
  })

  test('missing objects: stat null, read NotFoundError, delete is a no-op', async () => {
    expect(await store.stat('nope/x')).toBeNull()
    await expect(store.read('nope/x')).rejects.toBeInstanceOf(NotFoundError)
    await store.delete('nope/x')
  })

  test('delete', async () => {
    await store.put('d/x', text('x'), 'text/plain')
    await store.delete('d/x')
    expect(await store.stat('d/x')).toBeNull()
  })

  test('deletePrefix deletes only keys under the prefix, across pages', async () => {
    const keys = Array.from({ length: 1005 }, (_, i) => `many/42/${String(i).padStart(4, '0')}.bin`)
    // Seeding 1005 objects through s3rver's HTTP API is the slow part; bounded concurrency keeps it a few seconds.
    for (let i = 0; i < keys.length; i += 50) {
      await Promise.all(
        keys.slice(i, i + 50).map((key) => store.put(key, text('x'), 'application/octet-stream')),
      )
    }
    await store.put('many/420/keep.bin', text('k'), 'application/octet-stream')
    await store.put('many/4', text('k'), 'application/octet-stream')
    await store.deletePrefix('many/42/')
    expect(await store.stat('many/42/0000.bin')).toBeNull()
    expect(await store.stat('many/42/1004.bin')).toBeNull()
    expect(await store.stat('many/420/keep.bin')).not.toBeNull()
    expect(await store.stat('many/4')).not.toBeNull()
    await store.deletePrefix('many/4')
    expect(await store.stat('many/420/keep.bin')).toBeNull()
    expect(await store.stat('many/4')).toBeNull()
  }, 60_000)

  test('keys follow the same rules as the local store', async () => {
    for (const key of ['', '/abs', '../up', 'a//b', 'a\\b', '.hidden']) {
      await expect(store.put(key, text('x'), 'text/plain')).rejects.toBeInstanceOf(BadRequestError)
      await expect(store.stat(key)).rejects.toBeInstanceOf(BadRequestError)
    }
    await expect(store.deletePrefix('')).rejects.toBeInstanceOf(BadRequestError)
  })

  describe('pre-signed URLs', () => {
    const key = 'shows/My Show/episode #1 (100%).mp3'
    const body = 'ID3-fake-mp3-bytes-0123456789'
    const options = {
      expiresIn: 900,
      contentType: 'audio/mpeg',
      contentDisposition: 'attachment; filename="episode 1.mp3"',
      cacheControl: 'private, max-age=900',
    }
    beforeAll(async () => {
      await store.put(key, text(body), 'application/octet-stream')
    })

    test('fetching it returns the bytes with the requested response headers', async () => {
      const { url, expiresAt } = await store.signedUrl(key, options)
      expect(Math.abs(expiresAt.getTime() - (Date.now() + 900_000))).toBeLessThan(5_000)
      const response = await fetch(url)
      expect(response.status).toBe(200)
      expect(response.headers.get('content-type')).toBe('audio/mpeg')
      expect(response.headers.get('content-disposition')).toBe('attachment; filename="episode 1.mp3"')
      expect(response.headers.get('cache-control')).toBe('private, max-age=900')
      expect(await response.text()).toBe(body)
    })

    test('a Range request through it gets 206', async () => {
      const { url } = await store.signedUrl(key, options)
      const response = await fetch(url, { headers: { range: 'bytes=4-7' } })
      expect(response.status).toBe(206)
      expect(response.headers.get('content-range')).toBe(`bytes 4-7/${body.length}`)
      expect(await response.text()).toBe('fake')
    })

    // s3rver does not check signatures, so the signature is recomputed here from the SigV4 spec, independently
    // of the SDK, and must match what the SDK put in the URL.
    test('carries a correct SigV4 query signature over the response-* overrides', async () => {
      const { url } = await store.signedUrl(key, options)
      const parsed = new URL(url)
      const query = parsed.searchParams
      expect(query.get('X-Amz-Algorithm')).toBe('AWS4-HMAC-SHA256')
      expect(query.get('X-Amz-Expires')).toBe('900')
      expect(query.get('X-Amz-SignedHeaders')).toBe('host')
      expect(query.get('X-Amz-Credential')).toMatch(
        new RegExp(`^${CREDENTIALS.accessKeyId}/\\d{8}/${REGION}/s3/aws4_request$`),
      )
      expect(query.get('response-content-type')).toBe('audio/mpeg')
      expect(query.get('response-content-disposition')).toBe('attachment; filename="episode 1.mp3"')
      expect(query.get('response-cache-control')).toBe('private, max-age=900')
      expect(parsed.pathname).toBe(`/${BUCKET}/shows/My%20Show/episode%20%231%20%28100%25%29.mp3`)

      const signature = query.get('X-Amz-Signature')
      expect(signature).toMatch(/^[0-9a-f]{64}$/)
      expect(sigV4QuerySignature(parsed, CREDENTIALS.secretAccessKey)).toBe(signature as string)
      // The check has teeth: another secret, or any edited parameter, gives another signature.
      expect(sigV4QuerySignature(parsed, 'another-secret')).not.toBe(signature as string)
      const edited = new URL(url)
      edited.searchParams.set('response-content-type', 'text/html')
      expect(sigV4QuerySignature(edited, CREDENTIALS.secretAccessKey)).not.toBe(signature as string)
    })

    test('refuses lifetimes SigV4 cannot express', async () => {
      await expect(store.signedUrl(key, { expiresIn: 0 })).rejects.toThrow(RangeError)
      await expect(store.signedUrl(key, { expiresIn: 7 * 24 * 3600 + 1 })).rejects.toThrow(RangeError)
    })
  })
})
