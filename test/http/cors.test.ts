/**
 * `corsFixedHeaders` with `allowOrigin` (for routes Bun serves directly) must give what the @elysiajs/cors plugin
 * gives every other route's actual responses: compared here header by header, for each kind of policy, origin and
 * method. The plugin's reflected Access-Control-Allow-Methods/-Headers are preflight-only and left out on purpose.
 */
import { describe, expect, test } from 'bun:test'
import { Elysia } from 'elysia'
import { allowOrigin, corsFixedHeaders, corsPlugin, corsPolicy } from '../../src/http/cors.ts'

const POLICIES: Array<[string, string[]]> = [
  ['any origin', ['*']],
  ['a list', ['https://app.example', 'other.example']],
  ['an empty list', []],
]
const ORIGINS = [
  undefined,
  '',
  'https://app.example',
  'http://other.example',
  'https://evil.example',
  'https://app.example.evil',
]

/** Only a preflight's answer is read for these (Fetch standard, "CORS-preflight fetch"). */
const PREFLIGHT_ONLY = ['access-control-allow-methods', 'access-control-allow-headers']

/** The CORS headers of a response that an actual request's answer is read for (nothing else). */
function corsOf(headers: Headers | Record<string, string>): Record<string, string> {
  const entries = headers instanceof Headers ? [...headers.entries()] : Object.entries(headers)
  return Object.fromEntries(
    entries
      .filter(([name]) => name.startsWith('access-control-') || name === 'vary')
      .filter(([name]) => !PREFLIGHT_ONLY.includes(name))
      .sort(),
  )
}

describe('corsFixedHeaders and allowOrigin match the CORS plugin', () => {
  for (const [name, origins] of POLICIES) {
    test(`${name}: every origin, GET and HEAD, any request headers`, async () => {
      const policy = corsPolicy(origins)
      const app = new Elysia()
        .use(corsPlugin(policy))
        .get('/x', () => 'ok')
        .head('/x', () => new Response(null))
      for (const origin of ORIGINS) {
        for (const method of ['GET', 'HEAD']) {
          const headers: Record<string, string> = { range: 'bytes=0-1', authorization: 'Bearer x' }
          if (origin !== undefined) headers.origin = origin
          const request = new Request('http://localhost/x', { method, headers })
          const viaPlugin = corsOf((await app.handle(request)).headers)
          const direct: Record<string, string> = { ...corsFixedHeaders(policy) }
          const allowed = allowOrigin(policy, request)
          if (allowed !== undefined) direct['access-control-allow-origin'] = allowed
          expect(Object.keys(direct).filter((name) => PREFLIGHT_ONLY.includes(name))).toEqual([])
          expect({ origin, method, headers: corsOf(direct) }).toEqual({ origin, method, headers: viaPlugin })
        }
      }
    })
  }

  test('the policy: any origin without credentials; a list with them', () => {
    expect(corsPolicy(['*'])).toMatchObject({ origin: true, credentials: false })
    expect(corsPolicy(['https://a.example'])).toMatchObject({
      origin: ['https://a.example'],
      credentials: true,
    })
  })
})
