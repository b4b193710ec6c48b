/** The input guard's rules and limits, each at its edge (src/http/input-guard.ts). */
import { describe, expect, test } from 'bun:test'
import { TypeCompiler } from 'elysia/type-system'
import {
  decodeUtf8,
  GuardedString,
  guardBody,
  guardRequest,
  INPUT_LIMITS,
} from '../../src/http/input-guard.ts'
import { AppError } from '../../src/platform/errors.ts'

/** The refusal's status and code, or `ok`. */
function verdict(check: () => void): string {
  try {
    check()
    return 'ok'
  } catch (error) {
    if (error instanceof AppError) return `${error.status} ${error.code}`
    throw error
  }
}

const request =
  (target: string, headers: Record<string, string> = {}) =>
  () =>
    guardRequest(new Request(`http://localhost${target}`, { headers }))

describe('guardRequest', () => {
  test.each([
    ['/api/v1/jobs/abc?limit=5', 'ok'],
    ['/blobs/jobs/a%2Fb/c.mp3?sig=a+b%3D', 'ok'],
    ['/tracks/%C3%A9t%C3%A9', 'ok'],
    ['/api/v1/transmissions/a%00b/recording', '404 NOT_FOUND'],
    ['/api/v1/transmissions/a%01b/recording', '404 NOT_FOUND'],
    ['/api/v1/transmissions/a%7Fb/recording', '404 NOT_FOUND'],
    ['/api/v1/transmissions/a%C2%85b/recording', '404 NOT_FOUND'],
    ['/api/v1/transmissions/a%EF%BF%BDb/recording', '404 NOT_FOUND'],
    ['/x/%ff', '400 INVALID_ENCODING'],
    ['/x/%C0%80', '400 INVALID_ENCODING'],
    ['/x/%ED%A0%80', '400 INVALID_ENCODING'],
    ['/x/%E2%82', '400 INVALID_ENCODING'],
    ['/x/%zz', '400 INVALID_ENCODING'],
    ['/x?q=%00', '400 INVALID_CHARACTERS'],
    ['/x?q=a%0Ab', '400 INVALID_CHARACTERS'],
    ['/x?%00=1', '400 INVALID_CHARACTERS'],
    ['/x?q=%ff', '400 INVALID_ENCODING'],
    ['/x?q=a+b&&r', 'ok'],
  ])('%s → %s', (target, expected) => {
    expect(verdict(request(target))).toBe(expected)
  })

  test('the headers routes read: control characters, U+FFFD and length', () => {
    expect(verdict(request('/x', { range: 'bytes=0-1', authorization: 'Bearer abc' }))).toBe('ok')
    expect(verdict(request('/x', { origin: 'http://a\u007f' }))).toBe('400 INVALID_CHARACTERS')
    expect(verdict(request('/x', { 'if-range': '"\u0085"' }))).toBe('400 INVALID_CHARACTERS')
    expect(verdict(request('/x', { range: 'x'.repeat(INPUT_LIMITS.maxHeaderChars) }))).toBe('ok')
    expect(verdict(request('/x', { range: 'x'.repeat(INPUT_LIMITS.maxHeaderChars + 1) }))).toBe(
      '400 INPUT_TOO_LONG',
    )
    // Headers no route reads as text are left alone.
    expect(verdict(request('/x', { 'x-other': '\u007f' }))).toBe('ok')
  })

  test('limits: path segment, query value, query parameters, URL', () => {
    const { maxPathSegmentChars, maxQueryValueChars, maxQueryParams, maxUrlChars } = INPUT_LIMITS
    expect(verdict(request(`/x/${'a'.repeat(maxPathSegmentChars)}`))).toBe('ok')
    expect(verdict(request(`/x/${'a'.repeat(maxPathSegmentChars + 1)}`))).toBe('400 INPUT_TOO_LONG')
    expect(verdict(request(`/x/${'%C3%A9'.repeat(maxPathSegmentChars)}`))).toBe('ok')
    expect(verdict(request(`/x?q=${'a'.repeat(maxQueryValueChars)}`))).toBe('ok')
    expect(verdict(request(`/x?q=${'a'.repeat(maxQueryValueChars + 1)}`))).toBe('400 INPUT_TOO_LONG')
    const params = (n: number) => Array.from({ length: n }, (_, i) => `p${i}=1`).join('&')
    expect(verdict(request(`/x?${params(maxQueryParams)}`))).toBe('ok')
    expect(verdict(request(`/x?${params(maxQueryParams + 1)}`))).toBe('400 INPUT_TOO_LONG')
    const base = 'http://localhost/x/'
    // Segments short enough to pass on their own, so only the URL's length is at stake.
    const filler = `${'a'.repeat(999)}/`.repeat(Math.ceil(maxUrlChars / 1000))
    const atLimit = new Request(`${base}${filler}`.slice(0, maxUrlChars))
    expect(atLimit.url.length).toBe(maxUrlChars)
    expect(verdict(() => guardRequest(atLimit))).toBe('ok')
    expect(verdict(() => guardRequest(new Request(`${atLimit.url}a`)))).toBe('400 INPUT_TOO_LONG')
  })
})

describe('guardBody', () => {
  test.each([
    [{ title: 'Line one\nline two\tand a tab', n: 1, ok: true, list: ['a', { b: 'c' }] }, 'ok'],
    [{ userId: 'a\u0000' }, '400 INVALID_CHARACTERS'],
    [{ userId: '\ud800' }, '400 INVALID_CHARACTERS'],
    [{ userId: 'a\udc00b' }, '400 INVALID_CHARACTERS'],
    [{ userId: '\u{1f3b5}' }, 'ok'],
    [{ userId: '\ufffd' }, '400 INVALID_CHARACTERS'],
    [{ userId: '\u001b[31m' }, '400 INVALID_CHARACTERS'],
    [{ 'a\u0000': 1 }, '400 INVALID_CHARACTERS'],
    [['x', ['y', '\u0000']], '400 INVALID_CHARACTERS'],
    ['plain text body', 'ok'],
  ])('%p → %s', (body, expected) => {
    expect(verdict(() => guardBody(body))).toBe(expected)
  })

  test(`nesting: ${INPUT_LIMITS.maxBodyDepth} levels pass, one more is refused, 100,000 never overflow the stack`, () => {
    const nested = (depth: number) => JSON.parse(`${'['.repeat(depth)}${']'.repeat(depth)}`)
    expect(verdict(() => guardBody(nested(INPUT_LIMITS.maxBodyDepth)))).toBe('ok')
    expect(verdict(() => guardBody(nested(INPUT_LIMITS.maxBodyDepth + 1)))).toBe('400 INPUT_TOO_DEEP')
    let deep: unknown = []
    for (let i = 0; i < 100_000; i++) deep = [deep]
    expect(verdict(() => guardBody(deep))).toBe('400 INPUT_TOO_DEEP')
  })
})

test('decodeUtf8 refuses bytes that are not UTF-8', () => {
  expect(decodeUtf8(new TextEncoder().encode('héllo'))).toBe('héllo')
  expect(verdict(() => decodeUtf8(Uint8Array.of(0x7b, 0xc3, 0x28, 0x7d)))).toBe('400 INVALID_ENCODING')
  expect(verdict(() => decodeUtf8(Uint8Array.of(0xed, 0xa0, 0x80)))).toBe('400 INVALID_ENCODING')
})

test('GuardedString: the message schemas refuse what the guard refuses', () => {
  const schema = TypeCompiler.Compile(GuardedString({ maxLength: 8 }))
  expect(schema.Check('track-1')).toBe(true)
  expect(schema.Check('multi\nline')).toBe(false)
  expect(schema.Check('tab\there')).toBe(true)
  for (const bad of ['a\u0000', '\ud800', '\ufffd', '\u0007']) expect(schema.Check(bad)).toBe(false)
})
