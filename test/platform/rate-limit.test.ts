import { afterAll, describe, expect, test } from 'bun:test'
import { Elysia } from 'elysia'
import Redis from 'ioredis'
import { errorHandler } from '../../src/http/error-handler.ts'
import { RateLimits } from '../../src/platform/rate-limit.ts'

const redisUrl = process.env.TEST_REDIS_URL
const redis = redisUrl ? new Redis(redisUrl, { maxRetriesPerRequest: 1 }) : undefined
afterAll(() => redis?.disconnect())

const backends: Array<[string, RateLimits]> = [['memory', new RateLimits()]]
if (redis) backends.push(['redis', new RateLimits(redis)])

for (const [name, limits] of backends) {
  describe(`rate limits (${name})`, () => {
    test('past the limit a route answers 429 with Retry-After in its surface error shape', async () => {
      const limiter = limits.create({ name: `test-${Date.now()}`, points: 3, windowSeconds: 60 })
      const app = new Elysia()
        .use(errorHandler)
        .post('/api/v1/stream-audio', async ({ request }) => {
          await limiter.consume(request.headers.get('x-ip') ?? '')
          return { success: true }
        })
        .get('/other', async () => {
          await limiter.consume('other-ip')
          return { status: 'success' }
        })
      const hit = (ip: string) =>
        app.handle(
          new Request('http://localhost/api/v1/stream-audio', { method: 'POST', headers: { 'x-ip': ip } }),
        )
      for (let i = 0; i < 3; i++) expect((await hit('10.0.0.1')).status).toBe(200)
      const refused = await hit('10.0.0.1')
      expect(refused.status).toBe(429)
      const retryAfter = Number(refused.headers.get('retry-after'))
      expect(retryAfter).toBeGreaterThanOrEqual(1)
      expect(retryAfter).toBeLessThanOrEqual(60)
      expect(await refused.json()).toMatchObject({
        success: false,
        error: expect.stringContaining('Too many requests'),
      })
      // Another key has its own budget.
      expect((await hit('10.0.0.2')).status).toBe(200)
      for (let i = 0; i < 3; i++) await app.handle(new Request('http://localhost/other'))
      const other = await app.handle(new Request('http://localhost/other'))
      expect(other.status).toBe(429)
      expect(await other.json()).toMatchObject({ status: 'error', code: 'RATE_LIMITED' })
    })
  })
}

if (redis) {
  test('with Redis, two instances share one budget', async () => {
    const rule = { name: `shared-${Date.now()}`, points: 2, windowSeconds: 60 }
    const a = new RateLimits(redis).create(rule)
    const b = new RateLimits(redis).create(rule)
    await a.consume('k')
    await b.consume('k')
    await expect(a.consume('k')).rejects.toMatchObject({ status: 429 })
  })
}
