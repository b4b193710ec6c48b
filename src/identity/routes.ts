import { Elysia, t } from 'elysia'
import { GuardedString } from '../http/input-guard.ts'
import { type ApiKeyService, MAX_SCOPE_IDS } from './api-keys.ts'
import { authPlugin } from './auth-plugin.ts'
import type { TokenService } from './tokens.ts'

/** Ingest key management for admins; `bun run keys` uses it while the server runs. */
export function apiKeyRoutes(tokens: TokenService, keys: ApiKeyService) {
  return new Elysia({ name: 'api-key-routes', prefix: '/api/v1/admin/keys' })
    .use(authPlugin(tokens))
    .get('/', async () => ({ status: 'success', data: await keys.list() }), {
      admin: true,
      detail: { summary: 'List ingest API keys (never the keys themselves)', tags: ['admin'] },
    })
    .post(
      '/',
      async ({ body, set }) => {
        set.status = 201
        return {
          status: 'success',
          data: await keys.create(body.name, {
            systems: body.systems ?? null,
            talkgroups: body.talkgroups ?? null,
            openmhzShortName: body.openmhzShortName ?? null,
          }),
        }
      },
      {
        admin: true,
        body: t.Object({
          name: GuardedString({ minLength: 1, maxLength: 64 }),
          systems: t.Optional(t.Array(t.Integer({ minimum: 0 }), { maxItems: MAX_SCOPE_IDS })),
          talkgroups: t.Optional(t.Array(t.Integer({ minimum: 0 }), { maxItems: MAX_SCOPE_IDS })),
          openmhzShortName: t.Optional(GuardedString({ minLength: 1, maxLength: 64 })),
        }),
        detail: { summary: 'Create an ingest API key; the key is shown once', tags: ['admin'] },
      },
    )
    .delete('/:name', async ({ params }) => ({ status: 'success', data: await keys.revoke(params.name) }), {
      admin: true,
      detail: { summary: 'Revoke an ingest API key', tags: ['admin'] },
    })
}
