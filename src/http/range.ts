/**
 * HTTP range requests (RFC 9110 §13-14): parsing `Range`, evaluating `If-Range` and the cache validators,
 * and building the 200 / 206 / 304 response for anything with a size and a way to read byte ranges.
 * Used for signed blob URLs and for track streaming.
 */
import type { BunFile } from 'bun'
import { RangeNotSatisfiableError, ServiceUnavailableError } from '../platform/errors.ts'
import { type FileIdentity, MAX_BUFFERED_RANGE_BYTES, type OpenFiles } from '../platform/open-files.ts'
import type { BlobInfo, BlobStore, ByteRange } from '../platform/storage/blob-store.ts'

export type RangeRequest =
  | { kind: 'none' }
  | { kind: 'single'; start: number; end: number }
  | { kind: 'multi'; ranges: ByteRange[] }
  | { kind: 'unsatisfiable' }

/** More range-specs than this is a broken client or an amplification attempt; RFC 9110 §14.2 lets us ignore it. */
const MAX_RANGE_SPECS = 64

const NONE: RangeRequest = { kind: 'none' }
const UNSATISFIABLE: RangeRequest = { kind: 'unsatisfiable' }
/** The form nearly every player sends, `bytes=first-last` or `bytes=first-`, parsed without the general path. */
const SIMPLE_RANGE = /^bytes=(\d+)-(\d*)$/

/**
 * Largest multipart/byteranges body served. Such bodies are assembled in memory, because Bun sends a body that
 * streams in asynchronously with chunked framing and drops its Content-Length; past this size the Range header is
 * ignored and the whole representation is sent instead (RFC 9110 §14.2 lets a server ignore Range).
 */
export const MAX_MULTIPART_BYTES = 1024 * 1024

/**
 * Resolves a `Range` header against a representation of `size` bytes. Anything malformed, a unit other than
 * `bytes`, or an invalid spec such as `bytes=5-2` means the header is ignored (`none`, serve 200).
 * A zero-length representation has no expressible non-empty range, so a suffix range there is also `none`.
 */
export function parseRange(header: string | null | undefined, size: number): RangeRequest {
  if (!header) return NONE
  const simple = SIMPLE_RANGE.exec(header)
  if (simple) {
    // Exactly what the general path below gives for one spec with a first byte.
    const start = Number(simple[1])
    const end = simple[2] === '' ? Number.POSITIVE_INFINITY : Number(simple[2])
    if (end < start) return NONE
    return start < size ? { kind: 'single', start, end: Math.min(end, size - 1) } : UNSATISFIABLE
  }
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

  if (satisfiable.length === 0) return size === 0 && anyNonEmptySuffix ? NONE : UNSATISFIABLE
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
  /** `lastModified` as an HTTP-date, when the source has it at hand (sources reused for many requests do). */
  lastModifiedText?: string
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
  /**
   * The bytes of `range` (inclusive), or all of them. Bytes returned at once (not in a promise) may be lent, valid
   * only until the next call: use them synchronously (`new Response` copies them).
   */
  body(range?: ByteRange): RangeBody | Promise<RangeBody>
}

/** A `BunFile` slice is a Blob, which Bun sends with sendfile(2); small ranges may come as bytes in memory. */
export type RangeBody = Blob | ReadableStream<Uint8Array> | Uint8Array<ArrayBuffer>

/** A strong validator for blobs only ever replaced whole (atomic rename), so any change shows in size or mtime. */
export function etagFor(size: number, lastModified: Date): string {
  return `"${size.toString(16)}-${lastModified.getTime().toString(16)}"`
}

/** Where small ranges of a local file can be read without opening it again (see src/platform/open-files.ts). */
export interface SmallRangeReader {
  openFiles: OpenFiles
  path: string
  /** From the stat this request's size and validators came from. */
  identity: FileIdentity
}

/**
 * A local file: the whole file and large ranges are `BunFile` slices, which Bun sends with sendfile(2) (`slice`
 * takes an exclusive end, ranges an inclusive one). With `smallRanges`, ranges up to MAX_BUFFERED_RANGE_BYTES are
 * read with one pread from a kept-open descriptor instead; a file found shorter than its stat said is a 503.
 */
export function fileSource(
  file: BunFile,
  stats: {
    size: number
    lastModified: Date
    contentType?: string
    etag?: string
    smallRanges?: SmallRangeReader
    /**
     * Asked before the whole file or a large range is read through `file` (opened by path): false when the file is
     * no longer the one `size` and the validators came from, which is then a 503 FILE_CHANGED.
     */
    unchanged?: () => boolean
  },
): RangeSource {
  const { smallRanges, unchanged } = stats
  const changed = () =>
    new ServiceUnavailableError('The file changed while it was read; try again', 'FILE_CHANGED')
  return {
    size: stats.size,
    contentType: stats.contentType ?? (file.type || 'application/octet-stream'),
    lastModified: stats.lastModified,
    lastModifiedText: stats.lastModified.toUTCString(),
    etag: stats.etag ?? etagFor(stats.size, stats.lastModified),
    body: (range) => {
      const length = range ? range.end - range.start + 1 : stats.size
      if (!range || !smallRanges || length > MAX_BUFFERED_RANGE_BYTES) {
        if (unchanged && !unchanged()) throw changed()
        return range ? file.slice(range.start, range.end + 1) : file.slice(0, stats.size)
      }
      const bytes = smallRanges.openFiles.read(smallRanges.path, smallRanges.identity, range.start, length)
      if (!bytes) throw changed()
      return bytes
    },
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
  /**
   * Added like `headers`, but the same object on every call for a source (a route's constant headers): built with
   * the source's own into one kept header set per source, which each 200 and 206 copies instead of building its
   * headers from an object (about 0.2 µs a header; a player fetches a track in many small ranges).
   */
  fixedHeaders?: Readonly<Record<string, string>>
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
  return rangeResponse(request, source, options)
}

/**
 * `serveRange` without the promise when none is needed: the Response itself when the body is at hand (a file
 * slice, bytes read from a kept-open descriptor), and a RangeNotSatisfiableError thrown rather than rejected. For
 * the hottest callers (src/tracks/stream-route.ts), where Bun answers a returned Response sooner than a promise.
 */
export function rangeResponse(
  request: Request,
  source: RangeSource,
  options: ServeRangeOptions = {},
): Response | Promise<Response> {
  const isHead = request.method === 'HEAD'
  if (isNotModified(request.headers, source)) {
    return new Response(null, {
      status: 304,
      headers: { ...validatorHeaders(source), ...options.fixedHeaders, ...options.headers },
    })
  }

  let range = ifRangeAllows(request.headers.get('if-range'), source)
    ? parseRange(request.headers.get('range'), source.size)
    : NONE
  const multipart =
    range.kind === 'multi'
      ? multipartByteranges(source, range.ranges, options.boundary ?? crypto.randomUUID().replaceAll('-', ''))
      : undefined
  if (multipart && multipart.length > MAX_MULTIPART_BYTES) range = NONE
  if (range.kind === 'unsatisfiable') throw new RangeNotSatisfiableError(source.size)

  const headers =
    options.fixedHeaders === undefined
      ? sourceHeaders(source, undefined)
      : new Headers(headerTemplate(source, options.fixedHeaders))
  for (const name in options.headers) {
    if (!SOURCE_OWNED_HEADERS.has(name.toLowerCase())) headers.set(name, options.headers[name] as string)
  }
  switch (range.kind) {
    case 'none':
      headers.set('Content-Length', String(source.size))
      return respond(isHead ? null : source.body(), 200, headers)
    case 'single':
      headers.set('Content-Range', `bytes ${range.start}-${range.end}/${source.size}`)
      headers.set('Content-Length', String(range.end - range.start + 1))
      return respond(isHead ? null : source.body(range), 206, headers)
    case 'multi': {
      const { boundary, length, bytes } = multipart as Multipart
      headers.set('Content-Type', `multipart/byteranges; boundary=${boundary}`)
      headers.set('Content-Length', String(length))
      return respond(isHead ? null : bytes(), 206, headers)
    }
  }
}

/** What the source and the range decide, whatever a caller's headers say. */
const SOURCE_OWNED_HEADERS = new Set(['accept-ranges', 'content-type', 'content-range', 'content-length'])

/** ETag and Last-Modified, as every answer about `source` carries them. */
function validatorHeaders(source: RangeSource): Record<string, string> {
  const headers: Record<string, string> = {}
  if (source.etag) headers.ETag = source.etag
  if (source.lastModified)
    headers['Last-Modified'] = source.lastModifiedText ?? source.lastModified.toUTCString()
  return headers
}

/** The headers every 200 and 206 of `source` starts from, with `fixedHeaders`. */
function sourceHeaders(
  source: RangeSource,
  fixedHeaders: Readonly<Record<string, string>> | undefined,
): Headers {
  return new Headers({
    ...validatorHeaders(source),
    ...fixedHeaders,
    'Accept-Ranges': 'bytes',
    'Content-Type': source.contentType,
  })
}

/** `sourceHeaders` kept per source while its `fixedHeaders` object stays the same; copied by each answer. */
const headerTemplates = new WeakMap<RangeSource, { fixedHeaders: object; headers: Headers }>()

function headerTemplate(source: RangeSource, fixedHeaders: Readonly<Record<string, string>>): Headers {
  const kept = headerTemplates.get(source)
  if (kept !== undefined && kept.fixedHeaders === fixedHeaders) return kept.headers
  const headers = sourceHeaders(source, fixedHeaders)
  headerTemplates.set(source, { fixedHeaders, headers })
  return headers
}

/** The Response for `body`, at once when it is at hand, once it is when it comes as a promise. */
function respond(
  body: RangeBody | Promise<RangeBody> | null,
  status: number,
  headers: Headers,
): Response | Promise<Response> {
  return body instanceof Promise
    ? body.then((bytes) => new Response(bytes, { status, headers }))
    : new Response(body, { status, headers })
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

interface Multipart {
  boundary: string
  length: number
  bytes(): Promise<Uint8Array<ArrayBuffer>>
}

/** The multipart/byteranges body (RFC 9110 §14.6): its exact length up front, its bytes read on demand. */
function multipartByteranges(source: RangeSource, ranges: ByteRange[], boundary: string): Multipart {
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

  async function bytes(): Promise<Uint8Array<ArrayBuffer>> {
    const out = new Uint8Array(length)
    let offset = 0
    for (const { range, head } of parts) {
      out.set(head, offset)
      offset += head.length
      const partLength = range.end - range.start + 1
      // Bytes at hand are copied before anything else runs: a local file's are lent (src/platform/open-files.ts).
      const body = source.body(range)
      await readExactly(
        body instanceof Promise ? await body : body,
        out.subarray(offset, offset + partLength),
      )
      offset += partLength
    }
    out.set(tail, offset)
    return out
  }
  return { boundary, length, bytes }
}

/**
 * Fills `into` from `body`, which must hold exactly that many bytes; a source that gives more (or never ends) is
 * cancelled and the response fails, rather than growing memory. Bytes in memory are copied before the first await.
 */
async function readExactly(body: RangeBody, into: Uint8Array): Promise<void> {
  const expected = into.length
  if (body instanceof Uint8Array) {
    if (body.length !== expected) throw new Error(`a range of ${expected} bytes read ${body.length}`)
    into.set(body)
    return
  }
  if (body instanceof Blob) {
    if (body.size !== expected) throw new Error(`a range of ${expected} bytes read ${body.size}`)
    into.set(new Uint8Array(await body.arrayBuffer()))
    return
  }
  const reader = body.getReader()
  let read = 0
  try {
    while (read < expected) {
      const { done, value } = await reader.read()
      if (done) break
      if (read + value.length > expected) throw new Error(`a range of ${expected} bytes read more`)
      into.set(value, read)
      read += value.length
    }
    if (read !== expected) throw new Error(`a range of ${expected} bytes read ${read}`)
  } finally {
    // Releases the file handle or the S3 connection behind the stream, whatever happened.
    await reader.cancel().catch(() => {})
    reader.releaseLock()
  }
}
