import { jwt } from '@elysiajs/jwt'
import { Elysia } from 'elysia'
import { UnauthorizedError } from '../platform/errors.ts'
import { VerifiedTokenCache } from './token-cache.ts'

export interface Identity {
  userId: string
  role: 'admin' | 'user'
}

/** Most verified tokens remembered at once (a few hundred bytes each). */
export const TOKEN_CACHE_MAX_ENTRIES = 10_000
/** Longest a verified token is trusted without checking its signature again. */
export const TOKEN_CACHE_MAX_AGE_MS = 60_000

/** A token that does not verify (INVALID_TOKEN everywhere); `expired` says it was genuine but past its `exp`. */
export class InvalidTokenError extends UnauthorizedError {
  constructor(readonly expired: boolean) {
    super('Invalid or expired token', 'INVALID_TOKEN')
  }
}

/** Far past any real token's life: verifying with this much clock tolerance tells "expired" from "forged". */
const ANY_EXPIRY_S = 100 * 365 * 86_400

const TTL_UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400 }

/** Parses `90`, `30s`, `15m`, `1h`, `7d` into seconds. */
export function parseTtl(text: string): number {
  const match = /^(\d+)([smhd]?)$/.exec(text.trim())
  if (!match) throw new Error(`invalid TTL "${text}": use a number of seconds or e.g. 30m, 1h, 7d`)
  const seconds = Number(match[1]) * (TTL_UNITS[match[2] || 's'] ?? 1)
  if (seconds <= 0) throw new Error('TTL must be positive')
  return seconds
}

/**
 * HS256 JWTs through @elysiajs/jwt. Verification pins the algorithm (so `alg: none` and other
 * algorithms are refused), requires `sub` and honours `exp`. Verified tokens are remembered briefly
 * (VerifiedTokenCache: never past their `exp`), since JWTs cannot be revoked anyway.
 */
export class TokenService {
  private readonly jwt
  private readonly verified = new VerifiedTokenCache<Identity>(
    TOKEN_CACHE_MAX_ENTRIES,
    TOKEN_CACHE_MAX_AGE_MS,
  )

  constructor(secret: string) {
    this.jwt = new Elysia().use(jwt({ name: 'jwt', secret, alg: 'HS256' })).decorator.jwt
  }

  sign(identity: { userId: string; role?: 'admin' | 'user' }, ttlSeconds: number): Promise<string> {
    return this.jwt.sign({
      sub: identity.userId,
      ...(identity.role === 'admin' ? { role: 'admin' } : {}),
      exp: Math.floor(Date.now() / 1000) + ttlSeconds,
    })
  }

  /** The identity of `token` if it was verified recently (see VerifiedTokenCache), without checking it again. */
  recentlyVerified(token: string): Identity | undefined {
    return this.verified.get(token)
  }

  /** The identity in `token`, or UnauthorizedError when it is expired, malformed, forged or unsigned. */
  async verify(token: string): Promise<Identity> {
    const cached = this.verified.get(token)
    if (cached) return cached
    const payload = await this.jwt.verify(token, { algorithms: ['HS256'], requiredClaims: ['sub'] })
    if (!payload || typeof payload.sub !== 'string' || payload.sub === '') {
      const genuine = await this.jwt.verify(token, {
        algorithms: ['HS256'],
        requiredClaims: ['sub'],
        clockTolerance: ANY_EXPIRY_S,
      })
      throw new InvalidTokenError(payload === false && genuine !== false)
    }
    const identity: Identity = Object.freeze({
      userId: payload.sub,
      role: payload.role === 'admin' ? 'admin' : 'user',
    })
    this.verified.set(token, identity, expiryOfVerified(token))
    return identity
  }
}

/**
 * Epoch ms at which `token` expires (infinity without `exp`), read from its payload without checking it again: only
 * for a token that was just verified.
 */
export function expiryOfVerified(token: string): number {
  try {
    const payload = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as {
      exp?: unknown
    }
    return typeof payload.exp === 'number' ? payload.exp * 1000 : Number.POSITIVE_INFINITY
  } catch {
    return Number.POSITIVE_INFINITY
  }
}

/** The raw credential a request carries: `Authorization: Bearer …` first, then `?token=`. */
export function credentialOf(request: Request): string | undefined {
  const header = request.headers.get('authorization')
  if (header) {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header)
    return match?.[1] ?? ''
  }
  const query = new URL(request.url).searchParams.get('token')
  return query ?? undefined
}
