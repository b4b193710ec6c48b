import { describe, expect, test } from 'bun:test'
import { Elysia } from 'elysia'
import { errorHandler } from '../../src/http/error-handler.ts'
import { authPlugin } from '../../src/identity/auth-plugin.ts'
import { parseTtl, TokenService } from '../../src/identity/tokens.ts'

const SECRET = 'unit-test-secret-0123456789abcdef'
const tokens = new TokenService(SECRET)

const app = new Elysia()
  .use(errorHandler)
  .use(authPlugin(tokens))
  .get('/me', ({ user }) => user, { auth: true })
  .get('/admin', ({ user }) => user, { admin: true })

const b64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')

async function hmac(alg: 'SHA-256' | 'SHA-512', secret: string, data: string): Promise<string> {
  const key = await crypto.subtle.importKey(
    'raw',
    new TextEncoder().encode(secret),
    { name: 'HMAC', hash: alg },
    false,
    ['sign'],
  )
  return Buffer.from(await crypto.subtle.sign('HMAC', key, new TextEncoder().encode(data))).toString(
    'base64url',
  )
}

/** A hand-made token, so every field (alg, exp, signature) can be wrong on purpose. */
async function forge(
  header: object,
  payload: object,
  secret = SECRET,
  hash: 'SHA-256' | 'SHA-512' = 'SHA-256',
) {
  const body = `${b64url(header)}.${b64url(payload)}`
  return `${body}.${await hmac(hash, secret, body)}`
}

const now = () => Math.floor(Date.now() / 1000)
const get = (path: string, headers: Record<string, string> = {}) =>
  app.handle(new Request(`http://localhost${path}`, { headers }))

describe('JWT identity', () => {
  test('a valid token in the Authorization header identifies the user', async () => {
    const token = await tokens.sign({ userId: 'alice' }, 60)
    const res = await get('/me', { authorization: `Bearer ${token}` })
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual({ userId: 'alice', role: 'user' })
  })

  test('?token= works where a browser cannot set headers', async () => {
    const token = await tokens.sign({ userId: 'bob', role: 'admin' }, 60)
    const res = await get(`/admin?token=${token}`)
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual({ userId: 'bob', role: 'admin' })
  })

  const failures: Array<[string, () => Promise<Record<string, string>>]> = [
    ['no token', async () => ({})],
    [
      'expired',
      async () => ({
        authorization: `Bearer ${await forge({ alg: 'HS256' }, { sub: 'a', exp: now() - 10 })}`,
      }),
    ],
    ['malformed', async () => ({ authorization: 'Bearer not.a.jwt' })],
    ['garbage', async () => ({ authorization: 'Bearer %%%' })],
    [
      'wrong signature',
      async () => ({
        authorization: `Bearer ${await forge({ alg: 'HS256' }, { sub: 'a' }, 'another-secret-entirely')}`,
      }),
    ],
    [
      'alg none',
      async () => ({
        authorization: `Bearer ${b64url({ alg: 'none', typ: 'JWT' })}.${b64url({ sub: 'a' })}.`,
      }),
    ],
    [
      'another algorithm with the right secret',
      async () => ({
        authorization: `Bearer ${await forge({ alg: 'HS512' }, { sub: 'a' }, SECRET, 'SHA-512')}`,
      }),
    ],
    [
      'no sub',
      async () => ({ authorization: `Bearer ${await forge({ alg: 'HS256' }, { exp: now() + 60 })}` }),
    ],
    ['not a bearer scheme', async () => ({ authorization: 'Basic YWxpY2U6cHc=' })],
    ['empty bearer', async () => ({ authorization: 'Bearer ' })],
  ]

  test.each(failures)('%s → 401 in the error shape', async (_name, headers) => {
    const res = await get('/me', await headers())
    expect(res.status).toBe(401)
    const body = (await res.json()) as { status: string; message: string }
    expect(body.status).toBe('error')
    expect(body.message.length).toBeGreaterThan(0)
  })

  test('a valid hand-made HS256 token is accepted (the forge helper is sound)', async () => {
    const res = await get('/me', {
      authorization: `Bearer ${await forge({ alg: 'HS256' }, { sub: 'zed', exp: now() + 60 })}`,
    })
    expect(res.status).toBe(200)
  })

  test('a non-admin token on an admin route → 403', async () => {
    const token = await tokens.sign({ userId: 'carol' }, 60)
    const res = await get('/admin', { authorization: `Bearer ${token}` })
    expect(res.status).toBe(403)
  })

  test('parseTtl', () => {
    expect(parseTtl('90')).toBe(90)
    expect(parseTtl('15m')).toBe(900)
    expect(parseTtl('1h')).toBe(3600)
    expect(parseTtl('7d')).toBe(604_800)
    expect(() => parseTtl('1w')).toThrow('invalid TTL')
    expect(() => parseTtl('0')).toThrow('positive')
  })
})
