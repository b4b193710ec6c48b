/**
 * The routes to fuzz, read from the running server's OpenAPI document (`/openapi/json`), so a route added to the
 * app is fuzzed without touching the suite.
 */
import type { JsonSchema } from './hostile.ts'

export interface DocumentedRoute {
  /** Upper case, e.g. `GET`. */
  method: string
  /** The OpenAPI template, e.g. `/api/v1/jobs/{id}` (a wildcard stays `*`). */
  template: string
  /** Path parameters in order (`*` for a wildcard). */
  params: string[]
  /** Documented query parameter names. */
  query: string[]
  /** The documented JSON body schema, if any. */
  body?: JsonSchema
}

interface OpenApiOperation {
  parameters?: Array<{ in: string; name: string }>
  requestBody?: { content?: Record<string, { schema?: JsonSchema }> }
}

/** Methods the suite sends; `WS` entries are the `/ws` endpoint, fuzzed by the message surfaces instead. */
const HTTP_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'TRACE'])

export async function documentedRoutes(baseUrl: string): Promise<DocumentedRoute[]> {
  const response = await fetch(`${baseUrl}/openapi/json`)
  if (!response.ok) throw new Error(`/openapi/json answered ${response.status}`)
  const doc = (await response.json()) as { paths: Record<string, Record<string, OpenApiOperation>> }
  const routes: DocumentedRoute[] = []
  for (const [template, operations] of Object.entries(doc.paths)) {
    for (const [method, operation] of Object.entries(operations)) {
      const upper = method.toUpperCase()
      if (!HTTP_METHODS.has(upper)) continue
      const params = [...template.matchAll(/\{([^}]+)\}|\*/g)].map((m) => m[1] ?? '*')
      routes.push({
        method: upper,
        template,
        params,
        query: (operation.parameters ?? []).filter((p) => p.in === 'query').map((p) => p.name),
        body: operation.requestBody?.content?.['application/json']?.schema,
      })
    }
  }
  return routes
}

/** `GET /api/v1/jobs/{id}`: how a route is named in reports. */
export function routeName(route: Pick<DocumentedRoute, 'method' | 'template'>): string {
  return `${route.method} ${route.template}`
}

/**
 * Paths (e.g. `body.userId`) of the strings in `schema` that nothing constrains: no `format` (a `GuardedString`, or
 * one of Elysia's strict ones such as `integer` for numbers sent as text), no `pattern`, `enum` or `const`. A body
 * Elysia parses is only checked through its schema.
 */
export function unguardedStrings(schema: JsonSchema | undefined, path = 'body'): string[] {
  if (!schema) return []
  const types = Array.isArray(schema.type) ? schema.type : [schema.type]
  const own =
    types.includes('string') &&
    schema.format === undefined &&
    schema.pattern === undefined &&
    schema.enum === undefined &&
    schema.const === undefined
      ? [path]
      : []
  return [
    ...own,
    ...Object.entries(schema.properties ?? {}).flatMap(([key, child]) =>
      unguardedStrings(child, `${path}.${key}`),
    ),
    ...unguardedStrings(schema.items, `${path}[]`),
    ...(schema.anyOf ?? []).flatMap((child) => unguardedStrings(child, path)),
  ]
}
