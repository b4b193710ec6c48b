/**
 * A database that is really gone is still a 503 (only a refused value is a 400): the server reaches PostgreSQL
 * through a TCP proxy the test cuts, as a stopped PostgreSQL drops its connections and refuses new ones.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { createPostgresDatabase } from '../support/databases.ts'
import { type RunningServer, startServer } from '../support/server.ts'
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.ts'
import { until } from '../support/until.ts'

const postgresUrl = process.env.TEST_DATABASE_URL

describe.skipIf(!postgresUrl)('PostgreSQL stopped while the server runs', () => {
  let database: { url: string; drop(): Promise<void> }
  let proxy: TcpProxy
  let server: RunningServer
  let auth: { authorization: string }
  const get = (path: string) => fetch(`${server.url}${path}`, { headers: auth })

  beforeAll(async () => {
    database = await createPostgresDatabase(postgresUrl as string)
    const url = new URL(database.url)
    proxy = startTcpProxy({ hostname: url.hostname, port: Number(url.port || 5432) })
    url.hostname = '127.0.0.1'
    url.port = String(proxy.port)
    server = await startServer({ DATABASE_URL: url.toString() })
    auth = { authorization: `Bearer ${await server.token('alice')}` }
  }, 120_000)

  afterAll(async () => {
    await server?.stop()
    proxy?.cut()
    await database?.drop()
  })

  test('503 in each surface’s shape while it is down (never a 400 or a 500); 200 again once it is back', async () => {
    expect((await get('/api/v1/transmissions')).status).toBe(200)
    const mark = server.output().length
    proxy.cut()

    const history = await get('/api/v1/transmissions')
    expect({ status: history.status, body: await history.json() }).toMatchObject({
      status: 503,
      body: { success: false, code: 'HISTORY_UNAVAILABLE' },
    })
    const recording = await get('/api/v1/transmissions/r1_tg1_20260101000000/recording')
    expect(recording.status).toBe(503)
    const session = await get('/tracks/current-state')
    expect({ status: session.status, body: await session.json() }).toMatchObject({
      status: 503,
      body: { status: 'error', code: 'SESSIONS_UNAVAILABLE' },
    })
    // A route with no outage code of its own: the error mapper's DATABASE_UNAVAILABLE, with Retry-After.
    const job = await get(`/api/v1/jobs/${crypto.randomUUID()}`)
    expect({ status: job.status, body: await job.json() }).toMatchObject({
      status: 503,
      body: { status: 'error', code: 'DATABASE_UNAVAILABLE' },
    })
    expect(job.headers.get('retry-after')).toBe('5')
    expect((await fetch(`${server.url}/health`)).status).toBe(503)
    // Known outages are warnings, not faults.
    expect(server.output().slice(mark)).not.toContain('unhandled')

    proxy.restore()
    await until(
      async () => (await get('/api/v1/transmissions')).status,
      (status) => status === 200,
      30_000,
    )
    expect((await get('/tracks/current-state')).status).toBe(200)
    expect((await get(`/api/v1/jobs/${crypto.randomUUID()}`)).status).toBe(404)
  }, 60_000)
})
