import { Elysia } from 'elysia'
import { ForbiddenError, UnauthorizedError } from '../platform/errors.ts'
import { credentialOf, type TokenService } from './tokens.ts'

/**
 * Route options `auth: true` (a valid JWT) and `admin: true` (a valid JWT with role admin).
 * Each resolves `user` into the handler's context. Feature plugins `.use()` this to get the macros.
 */
export function authPlugin(tokens: TokenService) {
  const requireUser = async (request: Request) => {
    const credential = credentialOf(request)
    if (credential === undefined) throw new UnauthorizedError('Missing bearer token', 'MISSING_TOKEN')
    return tokens.verify(credential)
  }
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
