import { describe, expect, test } from 'bun:test'
import { VerifiedTokenCache } from '../../src/identity/token-cache.ts'
import { TokenService } from '../../src/identity/tokens.ts'

function clockedCache(maxEntries = 3, maxAgeMs = 60_000) {
  const clock = { now: 1_000_000 }
  return { clock, cache: new VerifiedTokenCache<string>(maxEntries, maxAgeMs, () => clock.now) }
}

describe('VerifiedTokenCache', () => {
  test("an entry lives until the token's exp, never after", () => {
    const { clock, cache } = clockedCache()
    cache.set('t', 'alice', clock.now + 5_000)
    clock.now += 4_999
    expect(cache.get('t')).toBe('alice')
    clock.now += 1
    expect(cache.get('t')).toBeUndefined()
    expect(cache.size).toBe(0)
  })

  test('and never longer than maxAgeMs, however far exp is', () => {
    const { clock, cache } = clockedCache(3, 60_000)
    cache.set('t', 'alice', Number.POSITIVE_INFINITY)
    clock.now += 59_999
    expect(cache.get('t')).toBe('alice')
    clock.now += 1
    expect(cache.get('t')).toBeUndefined()
  })

  test('an already expired token is not kept', () => {
    const { clock, cache } = clockedCache()
    cache.set('t', 'alice', clock.now)
    expect(cache.size).toBe(0)
  })

  test('bounded: past maxEntries the oldest goes first', () => {
    const { clock, cache } = clockedCache(3)
    for (const token of ['a', 'b', 'c', 'd']) cache.set(token, token, clock.now + 1000)
    expect(cache.size).toBe(3)
    expect(cache.get('a')).toBeUndefined()
    expect(['b', 'c', 'd'].map((token) => cache.get(token))).toEqual(['b', 'c', 'd'])
  })
})

describe('TokenService with the cache', () => {
  test('a verified token verifies again (from the cache); forged and malformed ones fail every time', async () => {
    const tokens = new TokenService('cache-test-secret-0123456789abcdef')
    const forger = new TokenService('another-secret-0123456789abcdefgh')
    const good = await tokens.sign({ userId: 'alice' }, 60)
    expect(await tokens.verify(good)).toEqual({ userId: 'alice', role: 'user' })
    expect(await tokens.verify(good)).toEqual({ userId: 'alice', role: 'user' })
    const forged = await forger.sign({ userId: 'alice' }, 60)
    for (let i = 0; i < 2; i++) {
      await expect(tokens.verify(forged)).rejects.toMatchObject({ status: 401, code: 'INVALID_TOKEN' })
      await expect(tokens.verify(`${good}x`)).rejects.toMatchObject({ status: 401 })
    }
  })
})
