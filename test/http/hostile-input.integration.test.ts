/**
 * Each class of hostile input the fuzzer (test/fuzz) and the issue found, against the real server with PGlite and
 * with PostgreSQL: NUL bytes, text that is not UTF-8 (bad escapes, raw bytes, lone surrogates), overlong values, a
 * value PostgreSQL refuses (SQLSTATE class 22), a malformed multipart upload. Every one is a 4xx in its surface's
 * shape, and never an "unhandled" log line.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { INPUT_LIMITS } from '../../src/http/input-guard.ts'
import { tinyWav } from '../fuzz/hostile.ts'
import { createPostgresDatabase } from '../support/databases.ts'
import { type RunningServer, startServer } from '../support/server.ts'
import { until } from '../support/until.ts'
import { WsClient } from '../support/ws-client.ts'

const INGEST_KEY = 'hostile-input-test-key-0123'

const databases: Array<{ name: string; create?: () => Promise<{ url: string; drop(): Promise<void> }> }> = [
  { name: 'pglite' },
]
const postgresUrl = process.env.TEST_DATABASE_URL
if (postgresUrl) databases.push({ name: 'postgres', create: () => createPostgresDatabase(postgresUrl) })

/** A request over a raw socket, so the bytes of the request line are exactly these (fetch would encode them). */
async function rawRequest(port: number, head: Uint8Array): Promise<{ status: number; body: string }> {
  let text = ''
  await new Promise<void>((resolve, reject) => {
    Bun.connect({
      hostname: '127.0.0.1',
      port,
      socket: {
        open: (socket) => void socket.write(head),
        data: (_socket, bytes) => {
          text += new TextDecoder().decode(bytes)
        },
        close: () => resolve(),
        error: (_socket, error) => reject(error),
      },
    }).catch(reject)
  })
  return {
    status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1]),
    body: text.slice(text.indexOf('\r\n\r\n') + 4),
  }
}

for (const database of databases) {
  describe(`hostile input, ${database.name}`, () => {
    let postgres: { url: string; drop(): Promise<void> } | undefined
    let server: RunningServer
    let auth: { authorization: string }
    let admin: { authorization: string }

    const get = (path: string, headers: Record<string, string> = auth) =>
      fetch(`${server.url}${path}`, { headers })
    const send = (method: string, path: string, body: BodyInit, headers: Record<string, string>) =>
      fetch(`${server.url}${path}`, { method, body, headers: { ...auth, ...headers } })
    const expectRadioError = async (response: Response, status: number, code: string) => {
      expect({ status: response.status, body: await response.json() }).toMatchObject({
        status,
        body: { success: false, error: expect.any(String), code },
      })
    }
    const expectError = async (response: Response, status: number, code: string) => {
      expect({ status: response.status, body: await response.json() }).toMatchObject({
        status,
        body: { status: 'error', message: expect.any(String), code },
      })
    }

    beforeAll(async () => {
      postgres = await database.create?.()
      server = await startServer({
        INGEST_API_KEYS: INGEST_KEY,
        ...(postgres ? { DATABASE_URL: postgres.url } : {}),
      })
      auth = { authorization: `Bearer ${await server.token('alice')}` }
      admin = { authorization: `Bearer ${await server.token('root', { role: 'admin' })}` }
    }, 120_000)

    afterAll(async () => {
      expect(server.output()).not.toContain('unhandled')
      await server.stop()
      await postgres?.drop()
    })

    describe('NUL bytes', () => {
      test('in an id: 404 in the surface’s shape, never the 503 of the issue (GET …/a%00b/recording)', async () => {
        await expectRadioError(await get('/api/v1/transmissions/a%00b/recording'), 404, 'NOT_FOUND')
        await expectError(
          await fetch(`${server.url}/api/v1/admin/keys/a%00b`, { method: 'DELETE', headers: admin }),
          404,
          'NOT_FOUND',
        )
        await expectError(await get('/api/v1/jobs/%00'), 404, 'NOT_FOUND')
        // The fast lane (served by Bun ahead of Elysia) answers the same.
        await expectError(await get('/api/stream/a%00b'), 404, 'NOT_FOUND')
      })

      test('in a query value, a header, a JSON body, a form field or an upload’s file name: 400', async () => {
        await expectRadioError(await get('/api/v1/transmissions?slot=1%00'), 400, 'INVALID_CHARACTERS')
        await expectError(await get('/api/v1/inspector/actors?kind=a%00', admin), 400, 'INVALID_CHARACTERS')
        // Bodies Elysia parses are checked by their schemas (GuardedString).
        await expectError(
          await send('POST', '/tracks/play/x', JSON.stringify({ userId: 'alice\u0000' }), {
            'content-type': 'application/json',
          }),
          400,
          'VALIDATION',
        )
        // filename*=UTF-8''… carries a NUL a quoted name cannot; the file itself is real audio.
        const upload = Buffer.concat([
          Buffer.from(
            `--b\r\nContent-Disposition: form-data; name="file"; filename*=UTF-8''so%00ng.wav\r\n\r\n`,
          ),
          tinyWav(),
          Buffer.from('\r\n--b--\r\n'),
        ])
        await expectError(
          await send('POST', '/api/tracks', upload, { 'content-type': 'multipart/form-data; boundary=b' }),
          400,
          'INVALID_CHARACTERS',
        )
        const titled = new FormData()
        titled.append('title', 'Book\u0000')
        titled.append('files', new File([tinyWav()], 'a.wav'))
        await expectError(await send('POST', '/api/v1/jobs', titled, {}), 400, 'INVALID_CHARACTERS')
      })

      test('in a WebSocket message: an INVALID_MESSAGE error event, nothing changes', async () => {
        const client = await WsClient.open(server.url, { token: auth.authorization.slice(7) })
        const reply = await client.request('playTrack', { trackId: 'a\u0000b' }, 'error')
        expect(reply.data).toMatchObject({ code: 'INVALID_MESSAGE' })
        client.close()
      })
    })

    describe('text that is not UTF-8', () => {
      test('a percent-escape that is not UTF-8 (bad bytes, overlong forms, encoded surrogates): 400', async () => {
        for (const broken of ['%ff', '%c0%80', '%ed%a0%80', '%e2%82', '%zz']) {
          await expectRadioError(
            await get(`/api/v1/transmissions/a${broken}/recording`),
            400,
            'INVALID_ENCODING',
          )
          await expectRadioError(
            await get(`/api/v1/transmissions?radio_id=${broken}`),
            400,
            'INVALID_ENCODING',
          )
          await expectError(await get(`/api/v1/jobs?x=${broken}`), 400, 'INVALID_ENCODING')
        }
      })

      test('raw bytes that are not UTF-8 in the path (Bun turns them into U+FFFD): 404', async () => {
        const head = Buffer.concat([
          Buffer.from('GET /api/v1/transmissions/a'),
          Buffer.from([0xff, 0xfe]),
          Buffer.from(`/recording HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`),
        ])
        const { status, body } = await rawRequest(server.port, head)
        expect(status).toBe(404)
        expect(JSON.parse(body)).toMatchObject({ success: false, code: 'NOT_FOUND' })
      })

      test('a lone surrogate in a JSON body, and an ingest body whose bytes are not UTF-8: 400', async () => {
        await expectError(
          await send('POST', '/tracks/play/x', '{"userId":"\\ud800"}', {
            'content-type': 'application/json',
          }),
          400,
          'VALIDATION',
        )
        const ingest = await fetch(`${server.url}/api/v1/stream-audio`, {
          method: 'POST',
          headers: { authorization: `Bearer ${INGEST_KEY}`, 'content-type': 'application/json' },
          body: Buffer.concat([
            Buffer.from('{"slot":1,"chunk_data":"'),
            Buffer.from([0xc3, 0x28]),
            Buffer.from('"}'),
          ]),
        })
        await expectRadioError(ingest, 400, 'INVALID_ENCODING')
      })
    })

    describe('overlong values', () => {
      const { maxPathSegmentChars, maxQueryValueChars, maxQueryParams, maxHeaderChars, maxBodyDepth } =
        INPUT_LIMITS

      test(`a path segment of ${maxPathSegmentChars} characters is looked up; one more is a 400`, async () => {
        await expectRadioError(
          await get(`/api/v1/transmissions/${'x'.repeat(maxPathSegmentChars)}/recording`),
          404,
          'TRANSMISSION_NOT_FOUND',
        )
        await expectRadioError(
          await get(`/api/v1/transmissions/${'x'.repeat(maxPathSegmentChars + 1)}/recording`),
          400,
          'INPUT_TOO_LONG',
        )
        // Counted once decoded: 1024 escaped characters are 1024, not 3072.
        await expectError(
          await get(`/api/v1/jobs/${'%C3%A9'.repeat(maxPathSegmentChars)}`),
          400,
          'VALIDATION',
        )
      })

      test(`query values past ${maxQueryValueChars} characters and more than ${maxQueryParams} parameters: 400`, async () => {
        expect((await get(`/api/v1/jobs?x=${'a'.repeat(maxQueryValueChars)}`)).status).toBe(200)
        await expectError(
          await get(`/api/v1/jobs?x=${'a'.repeat(maxQueryValueChars + 1)}`),
          400,
          'INPUT_TOO_LONG',
        )
        const many = (n: number) => Array.from({ length: n }, (_, i) => `p${i}=1`).join('&')
        expect((await get(`/api/v1/jobs?${many(maxQueryParams)}`)).status).toBe(200)
        await expectError(await get(`/api/v1/jobs?${many(maxQueryParams + 1)}`), 400, 'INPUT_TOO_LONG')
      })

      test(`a header past ${maxHeaderChars} characters and a body nested past ${maxBodyDepth} levels: 400`, async () => {
        await expectError(
          await get('/api/v1/jobs', { ...auth, range: `bytes=${'1'.repeat(maxHeaderChars)}` }),
          400,
          'INPUT_TOO_LONG',
        )
        // A route reading its own JSON (collector ingest) checks the nesting before anything else.
        const nested = (depth: number) => `{"x":${'['.repeat(depth - 1)}${']'.repeat(depth - 1)}}`
        const ingest = (body: string) =>
          fetch(`${server.url}/api/v1/stream-audio`, {
            method: 'POST',
            headers: { authorization: `Bearer ${INGEST_KEY}`, 'content-type': 'application/json' },
            body,
          })
        await expectRadioError(await ingest(nested(maxBodyDepth)), 400, 'MISSING_FIELD')
        await expectRadioError(await ingest(nested(maxBodyDepth + 1)), 400, 'INPUT_TOO_DEEP')
      })
    })

    describe('a value PostgreSQL refuses (SQLSTATE class 22)', () => {
      test('an out-of-range integer that passed validation is a 400 INVALID_VALUE, not a 500', async () => {
        const form = new FormData()
        form.append('title', 'Range Book')
        form.append('files', new File([tinyWav(4000)], 'a.wav'))
        const created = (await (await send('POST', '/api/v1/jobs', form, {})).json()) as { job_id: string }
        await until(
          async () =>
            ((await (await get(`/api/v1/jobs/${created.job_id}`)).json()) as { status: string }).status,
          (status) => status === 'COMPLETED',
          60_000,
        )
        // `version` is compared with an integer column: 2^31 is out of its range (22003).
        const response = await send(
          'PUT',
          `/api/v1/audio/${created.job_id}/progress`,
          JSON.stringify({ position: 0.1, version: 2 ** 31 }),
          { 'content-type': 'application/json' },
        )
        await expectError(response, 400, 'INVALID_VALUE')
        expect(server.output()).toContain('"code":"INVALID_VALUE"')
      }, 90_000)
    })

    describe('malformed multipart uploads', () => {
      test('a Content-Type without a usable boundary: 400 MALFORMED_UPLOAD', async () => {
        for (const contentType of [
          'multipart/form-data;',
          'multipart/form-data; boundary=',
          'multipart/form-data; =x',
        ]) {
          await expectError(
            await send('POST', '/api/tracks', '--x\r\n', { 'content-type': contentType }),
            400,
            'MALFORMED_UPLOAD',
          )
        }
      })

      test('two unexpected file parts and a body cut short: 400, and the server lives on', async () => {
        const boundary = 'b'
        const part = (name: string) =>
          `--${boundary}\r\nContent-Disposition: form-data; name="${name}"; filename="a.wav"\r\n\r\nxxxx\r\n`
        const response = await send('POST', '/api/v1/jobs', part('bind') + part('bind'), {
          'content-type': `multipart/form-data; boundary=${boundary}`,
        })
        await expectError(response, 400, 'UNEXPECTED_FILE')
        await Bun.sleep(100)
        expect(server.process.exitCode).toBeNull()
        expect((await get('/health')).status).toBe(200)
      })
    })

    test('a multipart part without a name is a field like any other, not a 500', async () => {
      const body = '--b\r\nContent-Disposition: form-data\r\n\r\nvalue\r\n--b--\r\n'
      await expectError(
        await send('POST', '/api/v1/jobs', body, { 'content-type': 'multipart/form-data; boundary=b' }),
        400,
        'TITLE_REQUIRED',
      )
    })

    test('HEAD on a live event stream answers its headers at once (it used to hang)', async () => {
      for (const query of ['slot=1', 'system=1']) {
        const response = await fetch(`${server.url}/api/v1/stream-listen?${query}`, {
          method: 'HEAD',
          signal: AbortSignal.timeout(5000),
        })
        expect(response.status).toBe(200)
        expect(response.headers.get('content-type')).toStartWith('text/event-stream')
      }
    })

    test('a control character in Origin is refused, never reflected into a malformed answer', async () => {
      for (const path of ['/api/stream/abc', '/tracks/current-state']) {
        const response = await get(path, { ...auth, origin: 'http://a\u007f' })
        expect(response.status).toBe(400)
        expect(response.headers.get('access-control-allow-origin')).toBeNull()
      }
    })
  })
}
