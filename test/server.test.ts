import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { TokenService } from '../src/identity/tokens.ts'
import { createPostgresDatabase } from './support/databases.ts'
import { REPO_ROOT, type RunningServer, startServer, TEST_JWT_SECRET } from './support/server.ts'

describe('the real server', () => {
  let server: RunningServer
  beforeAll(async () => {
    server = await startServer()
  })
  afterAll(() => server.stop())

  test('/health has the documented shape plus checks', async () => {
    const res = await fetch(`${server.url}/health`)
    expect(res.status).toBe(200)
    const body = (await res.json()) as Record<string, unknown>
    expect(body).toMatchObject({
      status: 'ok',
      env: 'test',
      memoryUsage: {
        rss: expect.any(Number),
        heapTotal: expect.any(Number),
        heapUsed: expect.any(Number),
        external: expect.any(Number),
      },
      checks: {
        database: { status: 'ok', detail: expect.stringContaining('PGlite') },
        storage: { status: 'ok', detail: 'local' },
        ffmpeg: { status: 'ok', detail: expect.stringContaining('ffmpeg version') },
        native: { status: 'ok' },
      },
    })
    expect(new Date(body.timestamp as string).getTime()).toBeGreaterThan(Date.now() - 60_000)
    expect(body.uptime).toBeGreaterThan(0)
  })

  test('/metrics is Prometheus text with request and WebSocket metrics', async () => {
    await fetch(`${server.url}/health`)
    const text = await (await fetch(`${server.url}/metrics`)).text()
    expect(text).toContain('# TYPE airwave_http_requests_total counter')
    expect(text).toContain('airwave_http_requests_total{method="GET",route="/health",status="200"}')
    expect(text).toContain('airwave_ws_connections')
    expect(text).toContain('airwave_process_resident_memory_bytes')
  })

  test('/openapi/json documents every HTTP route', async () => {
    const spec = (await (await fetch(`${server.url}/openapi/json`)).json()) as {
      paths: Record<string, unknown>
    }
    for (const path of ['/health', '/metrics', '/api/v1/admin/keys/', '/api/v1/admin/keys/{name}']) {
      expect(Object.keys(spec.paths)).toContain(path)
    }
  })

  test('every response carries a request id; a sane given one is kept', async () => {
    const given = await fetch(`${server.url}/health`, { headers: { 'x-request-id': 'abc-123' } })
    expect(given.headers.get('x-request-id')).toBe('abc-123')
    const made = await fetch(`${server.url}/health`, { headers: { 'x-request-id': 'bad id with spaces' } })
    expect(made.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/)
  })

  test('CORS answers preflights for browser clients', async () => {
    const res = await fetch(`${server.url}/health`, {
      method: 'OPTIONS',
      headers: { origin: 'https://player.example', 'access-control-request-method': 'GET' },
    })
    expect(res.status).toBeLessThan(300)
    expect(res.headers.get('access-control-allow-origin')).toMatch(/^(\*|https:\/\/player\.example)$/)
  })

  test('unknown routes and malformed bodies are clean 4xx errors, never 500', async () => {
    const missing = await fetch(`${server.url}/no/such/route`)
    expect(missing.status).toBe(404)
    expect(await missing.json()).toMatchObject({ status: 'error' })
    const admin = await server.token('root', { role: 'admin' })
    const bad = await fetch(`${server.url}/api/v1/admin/keys/`, {
      method: 'POST',
      headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
      body: '{"name": ',
    })
    expect(bad.status).toBe(400)
    const invalid = await fetch(`${server.url}/api/v1/admin/keys/`, {
      method: 'POST',
      headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 42 }),
    })
    expect(invalid.status).toBe(400)
    expect(await invalid.json()).toMatchObject({ status: 'error', code: 'VALIDATION' })
  })

  test('key management over HTTP is admin-only', async () => {
    const user = await server.token('alice')
    const res = await fetch(`${server.url}/api/v1/admin/keys/`, {
      headers: { authorization: `Bearer ${user}` },
    })
    expect(res.status).toBe(403)
    expect((await fetch(`${server.url}/api/v1/admin/keys/`)).status).toBe(401)
  })
})

describe('health checks', () => {
  test('/health turns 503 when a required check fails', async () => {
    const server = await startServer({ FFMPEG_PATH: '/nonexistent/ffmpeg' })
    try {
      const res = await fetch(`${server.url}/health`)
      expect(res.status).toBe(503)
      const body = (await res.json()) as {
        status: string
        checks: Record<string, { status: string; detail: string }>
      }
      expect(body.status).toBe('error')
      expect(body.checks.ffmpeg?.status).toBe('error')
      expect(body.checks.ffmpeg?.detail).toContain('FFMPEG_PATH')
      expect(body.checks.database?.status).toBe('ok')
    } finally {
      await server.stop()
    }
  })
})

describe.if(Boolean(process.env.TEST_DATABASE_URL))('the real server on PostgreSQL', () => {
  test('DATABASE_URL makes the server migrate and use PostgreSQL', async () => {
    const created = await createPostgresDatabase(process.env.TEST_DATABASE_URL as string)
    const server = await startServer({ DATABASE_URL: created.url })
    try {
      const health = (await (await fetch(`${server.url}/health`)).json()) as {
        checks: { database: { status: string; detail: string } }
      }
      expect(health.checks.database).toMatchObject({
        status: 'ok',
        detail: expect.stringContaining('PostgreSQL at'),
      })
      const admin = await server.token('root', { role: 'admin' })
      const res = await fetch(`${server.url}/api/v1/admin/keys/`, {
        method: 'POST',
        headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'pg-key' }),
      })
      expect(res.status).toBe(201)
    } finally {
      await server.stop()
      await created.drop()
    }
  })
})

describe('startup and shutdown', () => {
  test('development startup prints the URL, database, storage and a working dev token', async () => {
    const server = await startServer({ NODE_ENV: 'development' })
    try {
      const output = server.output()
      expect(output).toContain('database: PGlite at')
      expect(output).toContain('storage:  local, under')
      const token = /dev token \(sub=dev, role=admin, 30 days\): (\S+)/.exec(output)?.[1]
      expect(token).toBeDefined()
      const res = await fetch(`${server.url}/api/v1/admin/keys/`, {
        headers: { authorization: `Bearer ${token}` },
      })
      expect(res.status).toBe(200)
    } finally {
      await server.stop()
    }
  })

  test('SIGTERM closes WebSocket clients with 1001 and exits 0', async () => {
    const server = await startServer()
    const ws = new WebSocket(`ws://127.0.0.1:${server.port}/ws`)
    await new Promise((resolve) => {
      ws.onopen = resolve
    })
    const closed = new Promise<number>((resolve) => {
      ws.onclose = (e) => resolve(e.code)
    })
    const code = await server.stop('SIGTERM')
    expect(await closed).toBe(1001)
    expect(code).toBe(0)
    expect(server.output()).not.toContain('error')
  })

  test('a second signal exits at once, without waiting for in-flight requests', async () => {
    const server = await startServer({ LOG_LEVEL: 'info' })
    // A request whose body never finishes keeps the graceful shutdown waiting for it.
    const socket = await Bun.connect({ hostname: '127.0.0.1', port: server.port, socket: { data() {} } })
    socket.write('POST /api/v1/admin/keys/ HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n')
    socket.write('Content-Length: 1000\r\n\r\n{"name":')
    await Bun.sleep(100)
    // SIGTERM both times: a shell's background jobs may inherit an ignored SIGINT, which no handler can undo.
    server.process.kill('SIGTERM')
    const deadline = Date.now() + 10_000
    while (!server.output().includes('shutting down') && Date.now() < deadline) await Bun.sleep(10)
    expect(server.output()).toContain('shutting down')
    server.process.kill('SIGTERM')
    expect(await server.stop()).toBe(1)
    expect(server.output()).toContain('second signal: exiting now')
    socket.end()
  })
})

describe('command-line tools', () => {
  const run = async (args: string[], env: Record<string, string>) => {
    const proc = Bun.spawn(['bun', ...args], {
      cwd: REPO_ROOT,
      env: { ...process.env, JWT_SECRET: TEST_JWT_SECRET, LOG_LEVEL: 'silent', ...env },
      stdout: 'pipe',
      stderr: 'pipe',
    })
    const [stdout, stderr, code] = await Promise.all([
      new Response(proc.stdout).text(),
      new Response(proc.stderr).text(),
      proc.exited,
    ])
    return { stdout: stdout.trim(), stderr: stderr.trim(), code }
  }

  test('bun run token prints a JWT for the sub, role and TTL given', async () => {
    const { stdout, code } = await run(
      ['run', 'token', '--', '--sub', 'alice', '--role', 'admin', '--ttl', '1h'],
      {},
    )
    expect(code).toBe(0)
    const identity = await new TokenService(TEST_JWT_SECRET).verify(stdout)
    expect(identity).toEqual({ userId: 'alice', role: 'admin' })
    const exp = JSON.parse(Buffer.from(stdout.split('.')[1] ?? '', 'base64url').toString()).exp
    expect(exp - Date.now() / 1000).toBeGreaterThan(3590)
    expect(exp - Date.now() / 1000).toBeLessThanOrEqual(3600)
    const bad = await run(['run', 'token', '--', '--role', 'admin'], {})
    expect(bad.code).toBe(2)
    expect(bad.stderr).toContain('--sub is required')
  })

  test('bun run keys works through the running server, and straight on the database when it is stopped', async () => {
    const server = await startServer()
    const env = { DATA_DIR: server.dataDir, PORT: String(server.port) }
    const created = await run(['run', 'keys', '--', 'create', '--name', 'pi-1'], env)
    expect(created.code).toBe(0)
    expect(created.stdout).toMatch(/^awk_/)
    const scoped = await run(
      [
        'run',
        'keys',
        '--',
        'create',
        '--name',
        'tr-1',
        '--systems',
        '1,7',
        '--talkgroups',
        '100',
        '--short-name',
        'county',
      ],
      env,
    )
    expect(scoped.code).toBe(2)
    expect(scoped.stderr).toContain('exactly one system')
    const trunk = await run(
      ['run', 'keys', '--', 'create', '--name', 'tr-1', '--systems', '7', '--short-name', 'county'],
      env,
    )
    expect(trunk.code).toBe(0)
    const listed = await run(['run', 'keys', '--', 'list'], env)
    expect(listed.stdout).toContain('pi-1')
    expect(listed.stdout).toMatch(/tr-1\s.*systems 7 all talkgroups openmhz county/)
    expect(listed.stdout).not.toContain(created.stdout)
    // Stop the server but keep its DATA_DIR: the CLI must open the embedded database itself.
    server.process.kill('SIGTERM')
    await server.process.exited
    const revoked = await run(['run', 'keys', '--', 'revoke', '--name', 'pi-1'], env)
    expect(revoked.code).toBe(0)
    expect(revoked.stdout).toBe('revoked key "pi-1"')
    const after = await run(['run', 'keys', '--', 'list'], env)
    expect(after.stdout).toMatch(/pi-1\s.*revoked/)
    const missing = await run(['run', 'keys', '--', 'revoke', '--name', 'ghost'], env)
    expect(missing.code).toBe(2)
    expect(missing.stderr).toContain('no key named "ghost"')
    await server.stop()
  })
})
