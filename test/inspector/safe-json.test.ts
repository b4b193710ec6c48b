import { describe, expect, test } from 'bun:test'
import { createActor, setup } from 'xstate'
import { REDACTED, SUMMARY_LIMITS, toSafeJson } from '../../src/inspector/safe-json.ts'

describe('toSafeJson', () => {
  test('circular references, binary payloads, dates, maps and errors become plain JSON', () => {
    const node: Record<string, unknown> = { name: 'a' }
    node.self = node
    const out = toSafeJson({
      node,
      audio: new Uint8Array(1500),
      buffer: new ArrayBuffer(8),
      when: new Date('2026-01-02T03:04:05Z'),
      map: new Map([['k', 1]]),
      set: new Set([1, 2]),
      err: new TypeError('boom'),
      fn: () => 1,
      big: 10n,
    })
    expect(out).toEqual({
      node: { name: 'a', self: '[circular]' },
      audio: { $binary: 1500 },
      buffer: { $binary: 8 },
      when: '2026-01-02T03:04:05.000Z',
      map: { k: 1 },
      set: [1, 2],
      err: { $error: 'TypeError', message: 'boom' },
      big: '10',
    })
    expect(() => JSON.stringify(out)).not.toThrow()
  })

  test('secrets are redacted by key and by shape, wherever they are', () => {
    const jwt = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLWJ5dGVz'
    const out = toSafeJson({
      token: 'abc',
      Authorization: 'Bearer x',
      apiKey: 'k',
      api_key: 'k',
      chunk_data: 'T2dnUw==',
      nested: { password: 'p', note: `use ${jwt} please`, key: 'awk_0123456789abcdef' },
      url: `/ws?token=${jwt}`,
      ingest: 'awk_abcdefghijklmnop',
    }) as Record<string, unknown>
    const text = JSON.stringify(out)
    expect(text).not.toContain(jwt)
    expect(text).not.toContain('awk_')
    expect(text).not.toContain('T2dnUw')
    expect(out.token).toBe(REDACTED)
    expect(out.Authorization).toBe(REDACTED)
    expect((out.nested as Record<string, unknown>).note).toBe(`use ${REDACTED} please`)
  })

  test('depth, string length and entry counts are bounded', () => {
    const deep = { a: { b: { c: { d: { e: 1 } } } } }
    expect(toSafeJson(deep, SUMMARY_LIMITS)).toEqual({ a: { b: { c: '[…]' } } })
    const long = toSafeJson('x'.repeat(500), SUMMARY_LIMITS) as string
    expect(long.startsWith('x'.repeat(120))).toBe(true)
    expect(long).toEndWith('(500 chars)')
    const many = toSafeJson(
      Array.from({ length: 50 }, (_, i) => i),
      SUMMARY_LIMITS,
    ) as unknown[]
    expect(many).toHaveLength(21)
    expect(many.at(-1)).toBe('… 30 more')
  })

  test('actor references are shown by id, not walked', () => {
    const ref = createActor(setup({}).createMachine({}), { id: 'child-1' })
    expect(toSafeJson({ child: ref })).toEqual({ child: { $actor: 'child-1' } })
  })
})
