/**
 * HTTP range requests (RFC 9110 §13-14): parsing `Range`, evaluating `If-Range` and the cache validators,
 * and building the 200 / 206 / 304 response for anything with a size and a way to read byte ranges.
 * Used for signed blob URLs and for track streaming.
 */
import type { BunFile } from 'bun'
import { RangeNotSatisfiableError } from '../platform/errors.ts'
import type { BlobInfo, BlobStore, ByteRange } from '../platform/storage/blob-store.ts'

export type RangeRequest =
  | { kind: 'none' }
  | { kind: 'single'; start: number; end: number }
  | { kind: 'multi'; ranges: ByteRange[] }
  | { kind: 'unsatisfiable' }

/** More range-specs than this is a broken client or an amplification attempt; RFC 9110 §14.2 lets us ignore it. */
const MAX_RANGE_SPECS = 64

const NONE: RangeRequest = { kind: 'none' }

/**
 * Resolves a `Range` header against a representation of `size` bytes. Anything malformed, a unit other than
 * `bytes`, or an invalid spec such as `bytes=5-2` means the header is ignored (`none`, serve 200).
 * A zero-length representation has no expressible non-empty range, so a suffix range there is also `none`.
 */
export function parseRange(header: string | null | undefined, size: number): RangeRequest {
  if (!header) return NONE
  const equals = header.indexOf('=')
  if (equals < 0) return NONE
  if (header.slice(0, equals).trim().toLowerCase() !== 'bytes') return NONE

  // A list may carry empty elements and optional whitespace around commas (RFC 9110 §5.6.1).
  const specs = header
    .slice(equals + 1)
    .split(',')
    .map((spec) => spec.trim())
    .filter((spec) => spec !== '')
  if (specs.length === 0 || specs.length > MAX_RANGE_SPECS) return NONE

  const satisfiable: ByteRange[] = []
  let anyNonEmptySuffix = false
  for (const spec of specs) {
    const match = /^(\d*)[ \t]*-[ \t]*(\d*)$/.exec(spec)
    if (!match) return NONE
    const [, first = '', last = ''] = match
    if (first === '') {
      if (last === '') return NONE
      const suffixLength = Number(last)
      if (suffixLength === 0) continue
      anyNonEmptySuffix = true
      if (size > 0) satisfiable.push({ start: Math.max(0, size - suffixLength), end: size - 1 })
      continue
    }
    const start = Number(first)
    const end = last === '' ? Number.POSITIVE_INFINITY : Number(last)
    if (end < start) return NONE
    if (start < size) satisfiable.push({ start, end: Math.min(end, size - 1) })
  }

  if (satisfiable.length === 0) return size === 0 && anyNonEmptySuffix ? NONE : { kind: 'unsatisfiable' }
  const ranges = coalesce(satisfiable)
  const [only] = ranges
  if (ranges.length === 1 && only) return { kind: 'single', start: only.start, end: only.end }
  return { kind: 'multi', ranges }
}

/**
 * Merges overlapping or touching ranges so `bytes=0-,0-,0-` cannot multiply the response, keeping request order
 * otherwise, as RFC 9110 §14.6 asks for multipart parts.
 */
function coalesce(ranges: ByteRange[]): ByteRange[] {
  const result: ByteRange[] = []
  for (const range of ranges) {
    let merged = { ...range }
    let insertAt = result.length
    for (let i = 0; i < result.length; ) {
      const other = result[i] as ByteRange
      if (other.start <= merged.end + 1 && merged.start <= other.end + 1) {
        merged = { start: Math.min(other.start, merged.start), end: Math.max(other.end, merged.end) }
        result.splice(i, 1)
        insertAt = Math.min(insertAt, i)
        i = 0
      } else {
        i++
      }
    }
    result.splice(Math.min(insertAt, result.length), 0, merged)
  }
  return result
}

/** Cache validators of the representation being served. */
export interface Validators {
  /** A complete entity-tag including quotes, e.g. `"a1-b2"` or `W/"a1"`. */
  etag?: string
  lastModified?: Date
}

/**
 * Whether a Range request should be honoured given its `If-Range` (RFC 9110 §13.1.5): yes when absent, when it
 * is a strong entity-tag equal to ours, or when it is an HTTP-date equal to our Last-Modified. Weak tags never match.
 */
export function ifRangeAllows(ifRange: string | null | undefined, validators: Validators): boolean {
  if (ifRange === null || ifRange === undefined) return true
  const value = ifRange.trim()
  if (value.startsWith('"') || value.startsWith('W/')) {
    return validators.etag !== undefined && !isWeak(validators.etag) && value === validators.etag
  }
  const date = parseHttpDate(value)
  return (
    date !== undefined &&
    validators.lastModified !== undefined &&
    date === toHttpSeconds(validators.lastModified)
  )
}

/** `If-None-Match` uses the weak comparison: `W/"x"` matches `"x"` (RFC 9110 §13.1.2). */
export function ifNoneMatchMatches(ifNoneMatch: string, etag: string | undefined): boolean {
  if (ifNoneMatch.trim() === '*') return true
  if (etag === undefined) return false
  const ours = opaqueTag(etag)
  return (ifNoneMatch.match(/(?:W\/)?"[^"]*"/g) ?? []).some((tag) => opaqueTag(tag) === ours)
}

function isWeak(etag: string): boolean {
  return etag.startsWith('W/')
}

function opaqueTag(etag: string): string {
  return isWeak(etag) ? etag.slice(2) : etag
}

function parseHttpDate(value: string): number | undefined {
  // IMF-fixdate and the obsolete formats all end with a zone or year; a bare number is not a date.
  if (!/[a-z]/i.test(value)) return undefined
  const millis = Date.parse(value)
  return Number.isNaN(millis) ? undefined : Math.floor(millis / 1000)
}

/** HTTP dates have one-second resolution, so comparisons must drop the milliseconds. */
function toHttpSeconds(date: Date): number {
  return Math.floor(date.getTime() / 1000)
}

/** Something whose bytes can be served with ranges: a local file, a blob in a store, a buffer. */
export interface RangeSource extends Validators {
  size: number
  contentType: string
  /** The bytes of `range` (inclusive), or all of them. */
  body(range?: ByteRange): RangeBody | Promise<RangeBody>
}

/** A `BunFile` slice is a Blob, which Bun sends with sendfile(2). */
export type RangeBody = Blob | ReadableStream<Uint8Array>

/** A strong validator for blobs only ever replaced whole (atomic rename), so any change shows in size or mtime. */
export function etagFor(size: number, lastModified: Date): string {
  return `"${size.toString(16)}-${lastModified.getTime().toString(16)}"`
}

/**
 * A local file served zero-copy: Bun sends a `BunFile` slice with sendfile(2). `slice` takes an exclusive end,
 * ranges an inclusive one.
 */
export function fileSource(
  file: BunFile,
  stats: { size: number; lastModified: Date; contentType?: string; etag?: string },
): RangeSource {
  return {
    size: stats.size,
    contentType: stats.contentType ?? (file.type || 'application/octet-stream'),
    lastModified: stats.lastModified,
    etag: stats.etag ?? etagFor(stats.size, stats.lastModified),
    body: (range) => (range ? file.slice(range.start, range.end + 1) : file.slice(0, stats.size)),
  }
}

/** A blob in any `BlobStore`, streamed through the server (for stores that cannot hand out a local file). */
export function blobSource(store: BlobStore, info: BlobInfo, contentType = info.contentType): RangeSource {
  return {
    size: info.size,
    contentType,
    lastModified: info.lastModified,
    etag: etagFor(info.size, info.lastModified),
    body: (range) => store.read(info.key, range),
  }
}

export interface ServeRangeOptions {
  /** Added to every response (200, 206, 304), e.g. Content-Disposition or Cache-Control. */
  headers?: Record<string, string>
  /** Multipart boundary; random unless a test needs a fixed one. */
  boundary?: string
}

/**
 * The complete response for a GET or HEAD of `source`, honouring If-None-Match / If-Modified-Since (304),
 * Range with If-Range (206, multipart/byteranges for several ranges), and throwing RangeNotSatisfiableError
 * (416 with `Content-Range: bytes *\/size`) so the error handler renders it like every other error.
 * Under Elysia, route HEAD here explicitly (see src/blobs/routes.ts): its automatic HEAD for wildcard GET routes
 * reads the whole body and overwrites Content-Length.
 */
export async function serveRange(
  request: Request,
  source: RangeSource,
  options: ServeRangeOptions = {},
): Promise<Response> {
  const isHead = request.method === 'HEAD'
  // One headers object, filled as the answer takes shape: this runs for every range a player fetches.
  const headers: Record<string, string> = {}
  if (source.etag) headers.ETag = source.etag
  if (source.lastModified) headers['Last-Modified'] = source.lastModified.toUTCString()
  Object.assign(headers, options.headers)

  if (isNotModified(request.headers, source)) return new Response(null, { status: 304, headers })

  headers['Accept-Ranges'] = 'bytes'
  headers['Content-Type'] = source.contentType
  const range = ifRangeAllows(request.headers.get('if-range'), source)
    ? parseRange(request.headers.get('range'), source.size)
    : NONE

  switch (range.kind) {
    case 'none':
      headers['Content-Length'] = String(source.size)
      return new Response(isHead ? null : await source.body(), { status: 200, headers })
    case 'unsatisfiable':
      throw new RangeNotSatisfiableError(source.size)
    case 'single':
      headers['Content-Range'] = `bytes ${range.start}-${range.end}/${source.size}`
      headers['Content-Length'] = String(range.end - range.start + 1)
      return new Response(isHead ? null : await source.body(range), { status: 206, headers })
    case 'multi': {
      const boundary = options.boundary ?? crypto.randomUUID().replaceAll('-', '')
      const multipart = multipartByteranges(source, range.ranges, boundary)
      headers['Content-Type'] = `multipart/byteranges; boundary=${boundary}`
      headers['Content-Length'] = String(multipart.length)
      return new Response(isHead ? null : multipart.stream(), { status: 206, headers })
    }
  }
}

/** RFC 9110 §13.2.2: If-None-Match decides when present; If-Modified-Since only when it is absent. */
function isNotModified(headers: Headers, source: RangeSource): boolean {
  const ifNoneMatch = headers.get('if-none-match')
  if (ifNoneMatch !== null) return ifNoneMatchMatches(ifNoneMatch, source.etag)
  const ifModifiedSince = headers.get('if-modified-since')
  if (ifModifiedSince === null || !source.lastModified) return false
  const since = parseHttpDate(ifModifiedSince)
  return since !== undefined && toHttpSeconds(source.lastModified) <= since
}

/** The multipart/byteranges body (RFC 9110 §14.6) with its exact length known up front. */
function multipartByteranges(source: RangeSource, ranges: ByteRange[], boundary: string) {
  const encoder = new TextEncoder()
  const parts = ranges.map((range, index) => ({
    range,
    head: encoder.encode(
      `${index === 0 ? '' : '\r\n'}--${boundary}\r\nContent-Type: ${source.contentType}\r\n` +
        `Content-Range: bytes ${range.start}-${range.end}/${source.size}\r\n\r\n`,
    ),
  }))
  const tail = encoder.encode(`\r\n--${boundary}--\r\n`)
  const length =
    parts.reduce((sum, { range, head }) => sum + head.length + range.end - range.start + 1, 0) + tail.length

  async function* chunks(): AsyncGenerator<Uint8Array> {
    for (const { range, head } of parts) {
      yield head
      const body = await source.body(range)
      yield* readChunks(body instanceof Blob ? body.stream() : body)
    }
    yield tail
  }
  // Pull-based so a slow client only ever holds one chunk in memory.
  const stream = () => {
    const iterator = chunks()
    return new ReadableStream<Uint8Array>({
      async pull(controller) {
        const next = await iterator.next()
        if (next.done) controller.close()
        else controller.enqueue(next.value)
      },
      async cancel() {
        await iterator.return(undefined)
      },
    })
  }
  return { length, stream }
}

async function* readChunks(stream: ReadableStream<Uint8Array>): AsyncGenerator<Uint8Array> {
  const reader = stream.getReader()
  let finished = false
  try {
    while (true) {
      const { done, value } = await reader.read()
      if (done) break
      yield value
    }
    finished = true
  } finally {
    // An abandoned response must release the file handle or the S3 connection behind the stream.
    if (!finished) await reader.cancel()
    reader.releaseLock()
  }
}
