/**
 * The stream paths are served by Bun's router ahead of Elysia (src/tracks/stream-route.ts). Against the real
 * server: they answer with the CORS headers, request id, error shapes, metrics and log line of every Elysia route.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { libraryTrackId } from '../../src/tracks/library.ts'
import { makeTone } from '../support/audio.ts'
import { type RunningServer, startServer } from '../support/server.ts'
import { tempDir } from '../support/tmp.ts'

const library = tempDir('airwave-stream-lane-')
let server: RunningServer
let token: string
let id: string

beforeAll(async () => {
  await makeTone(library.path, 'lane.mp3', 2)
  id = libraryTrackId('lane.mp3')
  server = await startServer({
    AUDIO_FILES_DIR: library.path,
    CORS_ORIGIN: 'https://app.example,other.example',
    LOG_LEVEL: 'info',
  })
  token = await server.token('alice')
})

afterAll(async () => {
  await server?.stop()
  library.remove()
})

/** The CORS headers an actual response is read for (the preflight-only ones: see src/http/cors.ts). */
const corsOf = (response: Response) =>
  Object.fromEntries(
    [...response.headers.entries()].filter(
      ([name]) =>
        (name.startsWith('access-control-') || name === 'vary') &&
        name !== 'access-control-allow-methods' &&
        name !== 'access-control-allow-headers',
    ),
  )

describe('stream paths served by Bun ahead of Elysia', () => {
  test('the same CORS headers as an Elysia route, for every kind of origin', async () => {
    for (const origin of [undefined, 'https://app.example', 'http://other.example', 'https://evil.example']) {
      const headers: Record<string, string> = { authorization: `Bearer ${token}`, range: 'bytes=0-9' }
      if (origin) headers.origin = origin
      for (const path of [`/api/stream/${id}`, `/tracks/stream/${id}`, `/api/tracks/stream/${id}`]) {
        const lane = await fetch(`${server.url}${path}`, { headers })
        // The metadata route is an ordinary Elysia route; the same request headers are reflected the same way.
        const elysia = await fetch(`${server.url}/api/stream/${id}/metadata`, { headers })
        expect(lane.status).toBe(206)
        expect({ origin, path, cors: corsOf(lane) }).toEqual({ origin, path, cors: corsOf(elysia) })
        expect(corsOf(lane)['access-control-expose-headers']).toContain('x-request-id')
        await lane.arrayBuffer()
        await elysia.arrayBuffer()
      }
    }
  })

  test('x-request-id: kept when sane, otherwise a fresh UUID; on errors too', async () => {
    const auth = { authorization: `Bearer ${token}` }
    const kept = await fetch(`${server.url}/api/stream/${id}`, {
      headers: { ...auth, 'x-request-id': 'lane-1' },
    })
    expect(kept.headers.get('x-request-id')).toBe('lane-1')
    const fresh = await fetch(`${server.url}/api/stream/${id}`, {
      headers: { ...auth, 'x-request-id': 'no good!' },
    })
    expect(fresh.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/)
    const missing = await fetch(`${server.url}/api/stream/${id}`, { headers: { 'x-request-id': 'lane-2' } })
    expect(missing.headers.get('x-request-id')).toBe('lane-2')
  })

  test('errors: the JSON shape, the error headers, CORS and the request id', async () => {
    const origin = 'https://app.example'
    const cases: Array<[string, Record<string, string>, number, string]> = [
      [`/api/stream/${id}`, {}, 401, 'MISSING_TOKEN'],
      [`/api/stream/${id}`, { authorization: 'Bearer nope' }, 401, 'INVALID_TOKEN'],
      [`/api/stream/${id}?token=nope`, {}, 401, 'INVALID_TOKEN'],
      ['/api/stream/0000000000000000', { authorization: `Bearer ${token}` }, 404, 'TRACK_NOT_FOUND'],
      [
        `/api/stream/${id}`,
        { authorization: `Bearer ${token}`, range: 'bytes=999999-' },
        416,
        'RANGE_NOT_SATISFIABLE',
      ],
    ]
    for (const [path, headers, status, code] of cases) {
      const response = await fetch(`${server.url}${path}`, { headers: { ...headers, origin } })
      expect({ path, status: response.status }).toEqual({ path, status })
      expect(response.headers.get('content-type')).toBe('application/json; charset=utf-8')
      expect(response.headers.get('access-control-allow-origin')).toBe(origin)
      expect(response.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/)
      // Like the Elysia route: an error carries the hooks' headers, not the stream's own (Cache-Control etc.).
      expect(response.headers.get('cache-control')).toBeNull()
      const body = (await response.json()) as Record<string, unknown>
      expect(Object.keys(body)).toEqual(['status', 'message', 'code'])
      expect(body).toMatchObject({ status: 'error', code })
      if (status === 416) expect(response.headers.get('content-range')).toMatch(/^bytes \*\/\d+$/)
    }
  })

  test('what the native route leaves to Elysia: other methods, over-long and percent-escaped ids', async () => {
    const auth = { authorization: `Bearer ${token}` }
    const post = await fetch(`${server.url}/api/stream/${id}`, { method: 'POST', headers: auth })
    expect(post.status).toBe(405)
    expect(post.headers.get('allow')).toBe('GET, HEAD')
    expect(post.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/)
    const long = await fetch(`${server.url}/api/stream/${'x'.repeat(300)}`)
    expect(long.status).toBe(400)
    expect(await long.json()).toMatchObject({ status: 'error', code: 'VALIDATION' })
    const escaped = await fetch(`${server.url}/api/stream/%${id.charCodeAt(0).toString(16)}${id.slice(1)}`, {
      headers: auth,
    })
    expect(escaped.status).toBe(200)
    await escaped.arrayBuffer()
  })

  test('every answer is counted in the HTTP metrics and logged, under the route pattern', async () => {
    const count = async (labels: string) => {
      const text = await (await fetch(`${server.url}/metrics`)).text()
      const line = text.split('\n').find((l) => l.startsWith(`airwave_http_requests_total{${labels}}`))
      return line ? Number(line.split(' ').at(-1)) : 0
    }
    const ok = 'method="GET",route="/tracks/stream/:trackId",status="206"'
    const head = 'method="HEAD",route="/api/tracks/stream/:trackId",status="200"'
    const denied = 'method="GET",route="/api/stream/:trackId",status="401"'
    const before = [await count(ok), await count(head), await count(denied)]
    const auth = { authorization: `Bearer ${token}` }
    for (let i = 0; i < 3; i++) {
      await (
        await fetch(`${server.url}/tracks/stream/${id}`, { headers: { ...auth, range: 'bytes=0-1' } })
      ).arrayBuffer()
    }
    await fetch(`${server.url}/api/tracks/stream/${id}`, { method: 'HEAD', headers: auth })
    await (
      await fetch(`${server.url}/api/stream/${id}`, { headers: { 'x-request-id': 'logged-401' } })
    ).text()
    expect([await count(ok), await count(head), await count(denied)]).toEqual([
      (before[0] as number) + 3,
      (before[1] as number) + 1,
      (before[2] as number) + 1,
    ])
    const line = server
      .output()
      .split('\n')
      .find((l) => l.includes('"requestId":"logged-401"'))
    expect(JSON.parse(line as string)).toMatchObject({
      level: 30,
      requestId: 'logged-401',
      method: 'GET',
      path: `/api/stream/${id}`,
      status: 401,
      msg: 'request',
    })
  })
})
