/**
 * fast-check arbitraries for hostile input: text with NUL bytes, control characters, lone surrogates, U+FFFD,
 * overlong values; URL segments and query strings that are percent-encoded wrongly on purpose (bytes that are not
 * UTF-8, overlong forms, encoded surrogates, broken escapes); the headers routes read; JSON bodies generated from a
 * route's documented schema and then spoiled; multipart bodies with hostile fields, file names and contents.
 */
import fc from 'fast-check'

/** Fragments that have broken servers before, one at a time. */
const NASTY_FRAGMENTS = [
  '\u0000',
  '\u0001',
  '\u0008',
  '\u001b',
  '\u001f',
  '\u007f',
  '\u0085',
  '\u009f',
  '\u00ff',
  '\u2028',
  '\u202e',
  '\ufeff',
  '\ufffd',
  '\uffff',
  '\u{1f3b5}',
  '\t',
  '\n',
  '\r\n',
  ' ',
  '%',
  '%00',
  '/',
  '\\',
  '..',
  '"',
  "'",
  '`',
  ';',
  '&',
  '=',
  '+',
  '#',
  '?',
  '*',
  ':',
  '<',
  '>',
  '$',
  '{',
  '}',
]

/** Whole values that look meaningful to some layer: SQL, paths, numbers at the edges, templates. */
const NASTY_VALUES = [
  "' OR 1=1 --",
  "'; DROP TABLE audiobook_jobs; --",
  '../../../../etc/passwd',
  '/etc/passwd',
  'C:\\Windows\\win.ini',
  '$' + '{jndi:ldap://x/a}',
  '{{7*7}}',
  '<script>alert(1)</script>',
  'null',
  'undefined',
  'NaN',
  'Infinity',
  '-1',
  '-0',
  '0',
  '1e309',
  '9'.repeat(40),
  '0x10',
  '１２３',
  'true',
  '[]',
  '{}',
  '',
  ' ',
  '__proto__',
  'constructor',
]

const loneSurrogate = fc.integer({ min: 0xd800, max: 0xdfff }).map((unit) => String.fromCharCode(unit))

const textUnit = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...NASTY_FRAGMENTS) },
  { weight: 1, arbitrary: loneSurrogate },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 3 }) },
  { weight: 3, arbitrary: fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 6 }) },
)

/** Any text, biased towards what breaks parsers and databases; sometimes far longer than any id. */
export const hostileText: fc.Arbitrary<string> = fc.oneof(
  { weight: 6, arbitrary: fc.string({ unit: textUnit, maxLength: 24 }) },
  { weight: 2, arbitrary: fc.constantFrom(...NASTY_VALUES) },
  {
    weight: 1,
    arbitrary: fc
      .tuple(fc.integer({ min: 65, max: 3000 }), fc.constantFrom('x', '\u0000', 'é', '%'))
      .map(([n, c]) => c.repeat(n)),
  },
)

/** A header-safe version of `hostileText` (fetch refuses CR, LF and NUL, and anything past U+00FF). */
export const hostileHeaderText: fc.Arbitrary<string> = hostileText.map((text) =>
  // biome-ignore lint/suspicious/noControlCharactersInRegex: the characters fetch refuses in a header value.
  text.replace(/[\u0000\r\n]|[^\u0000-\u00ff]/g, '\u00ff').slice(0, 2000),
)

const UNRESERVED = /[A-Za-z0-9\-._~]/

/**
 * Percent-encodes `text` as WTF-8: UTF-8, except that a lone surrogate becomes its three bytes (ED A0 80 …),
 * which no UTF-8 decoder accepts, the way a careless client would send it.
 */
export function percentEncode(text: string): string {
  let out = ''
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i)
    const char = text[i] as string
    if (unit < 0x80 && UNRESERVED.test(char)) {
      out += char
      continue
    }
    let codePoint = unit
    const next = text.charCodeAt(i + 1)
    if (unit >= 0xd800 && unit <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
      codePoint = 0x10000 + ((unit - 0xd800) << 10) + (next - 0xdc00)
      i++
    }
    for (const byte of utf8Bytes(codePoint)) out += `%${byte.toString(16).toUpperCase().padStart(2, '0')}`
  }
  return out
}

function utf8Bytes(codePoint: number): number[] {
  if (codePoint < 0x80) return [codePoint]
  if (codePoint < 0x800) return [0xc0 | (codePoint >> 6), 0x80 | (codePoint & 63)]
  if (codePoint < 0x10000)
    return [0xe0 | (codePoint >> 12), 0x80 | ((codePoint >> 6) & 63), 0x80 | (codePoint & 63)]
  return [
    0xf0 | (codePoint >> 18),
    0x80 | ((codePoint >> 12) & 63),
    0x80 | ((codePoint >> 6) & 63),
    0x80 | (codePoint & 63),
  ]
}

/** Escapes that are wrong on purpose: truncated, not hex, not UTF-8, overlong, encoded surrogates, encoded slashes. */
const BROKEN_ESCAPES = [
  '%',
  '%0',
  '%zz',
  '%g0',
  '%ff',
  '%fe%ff',
  '%c0%80',
  '%c0%af',
  '%e0%80%80',
  '%ed%a0%80',
  '%ed%bf%bf',
  '%f4%90%80%80',
  '%e2%82',
  '%80',
  '%00',
  '%2f',
  '%2e%2e',
  '%5c',
  '%25',
  '%0d%0a',
]

/** Raw text for one path segment or query value as it appears in the URL (already encoded, rightly or not). */
export const urlComponent = (known: fc.Arbitrary<string>): fc.Arbitrary<string> =>
  fc.oneof(
    { weight: 4, arbitrary: known.map(percentEncode) },
    { weight: 4, arbitrary: hostileText.map(percentEncode) },
    {
      weight: 2,
      arbitrary: fc
        .array(
          fc.oneof(fc.constantFrom(...BROKEN_ESCAPES), fc.string({ unit: 'grapheme-ascii', maxLength: 3 })),
          { minLength: 1, maxLength: 6 },
        )
        .map((parts) => parts.join('').replace(/[/?#\s]/g, '')),
    },
  )

/** A query string (without `?`) naming some of `names` (and others), every value hostile or plausible. */
export function queryString(names: readonly string[], value: fc.Arbitrary<string>): fc.Arbitrary<string> {
  const name = fc.oneof(
    { weight: 3, arbitrary: names.length > 0 ? fc.constantFrom(...names) : fc.constant('q') },
    { weight: 1, arbitrary: fc.constantFrom('token', 'limit', 'chapter', 'session', 'slot', 'x') },
    { weight: 1, arbitrary: urlComponent(fc.constant('q')) },
  )
  const pair = fc
    .tuple(name, urlComponent(value), fc.boolean())
    .map(([key, v, bare]) => (bare && v === '' ? key : `${key}=${v}`))
  return fc.array(pair, { maxLength: 5 }).map((pairs) => pairs.join('&'))
}

/** Plausible values, so requests also get past validation and into handlers and the database. */
export const plausibleValue: fc.Arbitrary<string> = fc.oneof(
  fc.integer({ min: -2, max: 600 }).map(String),
  fc.constantFrom(
    '1',
    '2',
    '50',
    'true',
    'playback',
    'transmission',
    '2026-01-01T00:00:00Z',
    '2026-13-45T99:99:99',
    'abc',
  ),
  fc.string({ unit: 'grapheme-ascii', maxLength: 12 }),
)

/** `Range` values: the valid forms, the edges of RFC 9110 and plain junk. */
export const rangeHeader: fc.Arbitrary<string> = fc.oneof(
  fc.tuple(fc.nat(5_000_000), fc.nat(5_000_000)).map(([a, b]) => `bytes=${Math.min(a, b)}-${Math.max(a, b)}`),
  fc.nat(100_000).map((n) => `bytes=-${n}`),
  fc.nat(100_000).map((n) => `bytes=${n}-`),
  fc
    .array(
      fc.tuple(fc.nat(1000), fc.nat(1000)).map(([a, b]) => `${a}-${b}`),
      { minLength: 2, maxLength: 80 },
    )
    .map((specs) => `bytes=${specs.join(',')}`),
  fc.constantFrom(
    'bytes=0-0',
    'bytes=-0',
    'bytes=1-0',
    'bytes=99999999999999999999999-',
    'bytes=--1',
    'bytes=0-1,',
    'bytes=,',
    'items=0-1',
    'bytes 0-1',
    'bytes=0x10-0x20',
    'bytes=\u00ff-1',
  ),
  hostileHeaderText.map((text) => `bytes=${text}`),
  hostileHeaderText,
)

/** `If-Range`: entity tags (strong, weak, broken), HTTP dates (valid, invalid) and junk. */
export const ifRangeHeader: fc.Arbitrary<string> = fc.oneof(
  fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), maxLength: 20 }).map((tag) => `"${tag}"`),
  fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), maxLength: 20 }).map((tag) => `W/"${tag}"`),
  fc.date({ noInvalidDate: true }).map((date) => date.toUTCString()),
  fc.constantFrom('"', 'W/', '"a"b"', 'Thu, 01 Jan 1970 00:00:00 GMT', 'Mon, 32 Foo 99999 99:99:99 GMT', '*'),
  hostileHeaderText,
)

/** `Content-Type` values: the ones routes expect, with broken parameters, and junk. */
export const contentTypeHeader: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(
    'application/json',
    'application/json; charset=utf-8',
    'application/json; charset=latin1',
    'text/plain',
    'application/x-www-form-urlencoded',
    'multipart/form-data',
    'multipart/form-data; boundary=',
    'multipart/form-data; boundary=x',
    'application/octet-stream',
    '*/*',
    '',
  ),
  hostileHeaderText.map((text) => `multipart/form-data; boundary=${text}`),
  hostileHeaderText,
)

/** A minimal valid WAV (PCM, 8 kHz mono, 16-bit): audio every content sniffer accepts, made without FFmpeg. */
export function tinyWav(samples = 800): Uint8Array<ArrayBuffer> {
  const dataBytes = samples * 2
  const buffer = new ArrayBuffer(44 + dataBytes)
  const view = new DataView(buffer)
  const ascii = (offset: number, text: string) => {
    for (let i = 0; i < text.length; i++) view.setUint8(offset + i, text.charCodeAt(i))
  }
  ascii(0, 'RIFF')
  view.setUint32(4, 36 + dataBytes, true)
  ascii(8, 'WAVE')
  ascii(12, 'fmt ')
  view.setUint32(16, 16, true)
  view.setUint16(20, 1, true)
  view.setUint16(22, 1, true)
  view.setUint32(24, 8000, true)
  view.setUint32(28, 16_000, true)
  view.setUint16(32, 2, true)
  view.setUint16(34, 16, true)
  ascii(36, 'data')
  view.setUint32(40, dataBytes, true)
  for (let i = 0; i < samples; i++) view.setInt16(44 + i * 2, Math.round(Math.sin(i / 4) * 8000), true)
  return new Uint8Array(buffer)
}

const WAV = tinyWav()

export interface Body {
  contentType?: string
  bytes: Uint8Array<ArrayBuffer>
}

const encoder = new TextEncoder()

/** A multipart/form-data body: the fields routes read, hostile fields, file names and contents. */
export const multipartBody: fc.Arbitrary<Body> = fc
  .record({
    boundary: fc.constantFrom('fuzzboundary', 'x', '----WebKitFormBoundary7MA4YWxkTrZu0gW'),
    parts: fc.array(
      fc.record({
        name: fc.oneof(
          {
            weight: 4,
            arbitrary: fc.constantFrom('title', 'files', 'file', 'chapter_titles', 'chapter_titles[]'),
          },
          { weight: 1, arbitrary: hostileText },
        ),
        value: fc.oneof(hostileText, plausibleValue),
        file: fc.option(
          fc.record({
            name: fc.oneof(fc.constantFrom('a.wav', 'song.mp3', ''), hostileText),
            /** RFC 5987 `filename*=UTF-8''…` carries bytes a quoted name cannot (NUL, not-UTF-8). */
            extended: fc.boolean(),
            content: fc.oneof(
              { weight: 2, arbitrary: fc.constant(WAV) },
              { weight: 2, arbitrary: fc.uint8Array({ maxLength: 256 }) },
              { weight: 1, arbitrary: fc.constant(new Uint8Array()) },
            ),
          }),
          { freq: 2 },
        ),
      }),
      { maxLength: 4 },
    ),
    truncated: fc.boolean(),
  })
  .map(({ boundary, parts, truncated }) => {
    const chunks: Uint8Array[] = []
    for (const part of parts) {
      const name = part.name.replace(/["\r\n]/g, '_')
      let disposition = `form-data; name="${name}"`
      if (part.file) {
        disposition += part.file.extended
          ? `; filename*=UTF-8''${percentEncode(part.file.name)}`
          : `; filename="${part.file.name.replace(/["\r\n]/g, '_')}"`
      }
      chunks.push(encoder.encode(`--${boundary}\r\nContent-Disposition: ${disposition}\r\n`))
      if (part.file) chunks.push(encoder.encode('Content-Type: application/octet-stream\r\n'))
      chunks.push(encoder.encode('\r\n'), part.file ? part.file.content : encoder.encode(part.value))
      chunks.push(encoder.encode('\r\n'))
    }
    if (!truncated) chunks.push(encoder.encode(`--${boundary}--\r\n`))
    return {
      contentType: `multipart/form-data; boundary=${boundary}`,
      bytes: new Uint8Array(Buffer.concat(chunks)),
    }
  })

/** A JSON Schema node of the OpenAPI document (TypeBox output), as far as bodies use it. */
export interface JsonSchema {
  type?: string | string[]
  properties?: Record<string, JsonSchema>
  required?: string[]
  items?: JsonSchema
  anyOf?: JsonSchema[]
  const?: unknown
  enum?: unknown[]
  minimum?: number
  maximum?: number
  minLength?: number
  maxLength?: number
  format?: string
  pattern?: string
}

/** Values for `schema`: often valid (so handlers run), often hostile (so the guard and validation are tested). */
export function fromSchema(schema: JsonSchema | undefined, depth = 0): fc.Arbitrary<unknown> {
  const hostile = fc.oneof(hostileText, fc.jsonValue({ maxDepth: 2 }))
  if (!schema || depth > 4) return hostile
  const valid = validFor(schema, depth)
  return fc.oneof({ weight: 3, arbitrary: valid }, { weight: 1, arbitrary: hostile })
}

function validFor(schema: JsonSchema, depth: number): fc.Arbitrary<unknown> {
  if (schema.const !== undefined) return fc.constant(schema.const)
  if (schema.enum) return fc.constantFrom(...schema.enum)
  if (schema.anyOf && schema.anyOf.length > 0)
    return fc.oneof(...schema.anyOf.map((s) => fromSchema(s, depth + 1)))
  const type = Array.isArray(schema.type) ? schema.type[0] : schema.type
  switch (type) {
    case 'object': {
      const properties = schema.properties ?? {}
      const record: Record<string, fc.Arbitrary<unknown>> = {}
      for (const [key, child] of Object.entries(properties)) record[key] = fromSchema(child, depth + 1)
      const required = (schema.required ?? []).filter((key) => key in properties)
      return fc.record(record, { requiredKeys: required })
    }
    case 'array':
      return fc.array(fromSchema(schema.items, depth + 1), { maxLength: 4 })
    case 'string':
      return fc.oneof(
        fc.string({ minLength: schema.minLength ?? 0, maxLength: Math.min(schema.maxLength ?? 32, 32) }),
        hostileText,
      )
    case 'integer':
      return fc.oneof(
        fc.integer({ min: schema.minimum ?? -1000, max: schema.maximum ?? 1_000_000 }),
        fc.constantFrom(-1, 0, 2 ** 31, 2 ** 53, -(2 ** 63)),
      )
    case 'number':
      return fc.oneof(
        fc.double({ min: schema.minimum ?? -1e6, max: schema.maximum ?? 1e6, noNaN: true }),
        fc.constantFrom(-0, 1e308, 5e-324, -1),
      )
    case 'boolean':
      return fc.boolean()
    default:
      return fc.jsonValue({ maxDepth: 2 })
  }
}

/** JSON text for a value, sometimes spoiled: nested too deep, cut short, not UTF-8, or not JSON at all. */
export function jsonBody(value: fc.Arbitrary<unknown>): fc.Arbitrary<Body> {
  const text = fc.oneof(
    { weight: 6, arbitrary: value.map((v) => encoder.encode(JSON.stringify(v) ?? 'null')) },
    {
      weight: 1,
      arbitrary: fc
        .integer({ min: 20, max: 5000 })
        .map((n) => encoder.encode(`${'['.repeat(n)}${']'.repeat(n)}`)),
    },
    { weight: 1, arbitrary: value.map((v) => encoder.encode((JSON.stringify(v) ?? 'null').slice(0, -1))) },
    {
      weight: 1,
      arbitrary: fc
        .tuple(value, fc.uint8Array({ minLength: 1, maxLength: 8 }))
        .map(([v, junk]) => new Uint8Array(Buffer.concat([encoder.encode(JSON.stringify(v) ?? ''), junk]))),
    },
    { weight: 1, arbitrary: hostileText.map((t) => encoder.encode(t)) },
  )
  return fc
    .tuple(
      text,
      fc.oneof(
        { weight: 4, arbitrary: fc.constant('application/json') },
        { weight: 1, arbitrary: contentTypeHeader },
      ),
    )
    .map(([bytes, contentType]) => ({ contentType, bytes }))
}
