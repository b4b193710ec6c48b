import { Elysia, t } from 'elysia'
import type { Services } from '../app-services.ts'
import { authPlugin } from '../identity/auth-plugin.ts'
import { BadRequestError, NotFoundError } from '../platform/errors.ts'

/** Unsent bytes an inspector client may fall behind by before it is cut off; actors never wait for it. */
export const INSPECTOR_MAX_QUEUED_BYTES = 1024 * 1024
const KEEPALIVE_MS = 15_000

const page = () =>
  new Response(Bun.file(new URL('../web/inspector.html', import.meta.url)), {
    headers: { 'content-type': 'text/html; charset=utf-8' },
  })

/** Actor ids hold `:` and, for children, `/`; Elysia leaves a wildcard percent-encoded. */
function decodeActorId(raw: string): string {
  try {
    return decodeURIComponent(raw)
  } catch {
    throw new BadRequestError('Malformed actor id')
  }
}

/** The state inspector: admin-only JSON and SSE over the inspection feed, and the page at /inspector. */
export function inspectorRoutes(services: Pick<Services, 'tokens' | 'sse' | 'inspector'>) {
  const feed = services.inspector
  return new Elysia({ name: 'inspector' })
    .use(authPlugin(services.tokens))
    .get('/inspector', page, { detail: { summary: 'State inspector page', tags: ['inspector'] } })
    .get('/api/v1/inspector/actors', ({ query }) => ({ actors: feed.list(query.kind) }), {
      admin: true,
      query: t.Object({ kind: t.Optional(t.String({ maxLength: 64 })) }),
      detail: { summary: 'Every live (and recently ended) actor', tags: ['inspector'] },
    })
    .get(
      '/api/v1/inspector/actors/*',
      ({ params }) => {
        const id = decodeActorId(params['*'])
        const actor = feed.get(id)
        if (!actor) throw new NotFoundError(`No actor "${id}"`, 'ACTOR_NOT_FOUND')
        return actor
      },
      {
        admin: true,
        detail: { summary: 'One actor: snapshot, statechart and its last events', tags: ['inspector'] },
      },
    )
    .get(
      '/api/v1/inspector/events',
      ({ request, server, query }) => {
        let unsubscribe = () => {}
        const stream = services.sse.open(
          request,
          {
            maxQueuedBytes: INSPECTOR_MAX_QUEUED_BYTES,
            heartbeat: {
              intervalMs: KEEPALIVE_MS,
              event: () => ({ event: 'keepalive', data: { time: Date.now() } }),
            },
            onClose: () => unsubscribe(),
          },
          server,
        )
        const filter = { kind: query.kind, id: query.id }
        stream.send({
          event: 'actors',
          data: { actors: feed.list(query.kind).filter((a) => !query.id || a.id === query.id) },
        })
        unsubscribe = feed.subscribe(filter, (sequence, json) => {
          stream.send({ id: String(sequence), event: 'inspection', data: json })
        })
        return stream.response
      },
      {
        admin: true,
        query: t.Object({
          kind: t.Optional(t.String({ maxLength: 64 })),
          id: t.Optional(t.String({ maxLength: 256 })),
          token: t.Optional(t.String()),
        }),
        detail: { summary: 'Live inspection events (SSE), filterable by kind and id', tags: ['inspector'] },
      },
    )
}
