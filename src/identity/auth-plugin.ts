import { Elysia } from 'elysia'
import { ForbiddenError, UnauthorizedError } from '../platform/errors.ts'
import { credentialOf, type Identity, type TokenService } from './tokens.ts'

/**
 * The identity behind the request's credential (`Authorization: Bearer`, else `?token=`); UnauthorizedError when
 * there is none (MISSING_TOKEN) or it does not verify (INVALID_TOKEN). `auth: true` routes and the routes Bun
 * serves directly (src/tracks/stream-route.ts) both ask here. Throws (rather than rejects) for a missing token.
 */
export function authenticate(tokens: TokenService, request: Request): Identity | Promise<Identity> {
  const credential = credentialOf(request)
  if (credential === undefined) throw new UnauthorizedError('Missing bearer token', 'MISSING_TOKEN')
  // A recently verified token (a player's next range) is answered at once, without a promise.
  return tokens.recentlyVerified(credential) ?? tokens.verify(credential)
}

/**
 * Route options `auth: true` (a valid JWT) and `admin: true` (a valid JWT with role admin).
 * Each resolves `user` into the handler's context. Feature plugins `.use()` this to get the macros.
 */
export function authPlugin(tokens: TokenService) {
  const requireUser = async (request: Request) => authenticate(tokens, request)
  return new Elysia({ name: 'auth', seed: tokens }).macro({
    auth: {
      async resolve({ request }) {
        return { user: await requireUser(request) }
      },
    },
    admin: {
      async resolve({ request }) {
        const user = await requireUser(request)
        if (user.role !== 'admin') throw new ForbiddenError('Admin role required', 'ADMIN_REQUIRED')
        return { user }
      },
    },
  })
}
