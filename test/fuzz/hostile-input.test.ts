/**
 * Property-based fuzzing of the real server (PGlite, and PostgreSQL when TEST_DATABASE_URL is set) with hostile
 * input on every surface: every HTTP route the OpenAPI document lists, the SSE streams and `/ws`.
 *
 * Invariants: every answer is below 500 and, when it is an error, in its surface's shape; nothing hangs; the server
 * logs no "unhandled" error; it stays healthy; another user's data is unchanged.
 *
 * FUZZ_SEED (default 17017) picks the generated cases: a failure prints the seed, fast-check's path and the shrunk
 * case, and `FUZZ_SEED=<seed> bun test test/fuzz` replays it. FUZZ_REQUESTS (default 20,000) is the total number of
 * generated requests, shared between the databases and the surfaces.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import fc from 'fast-check'
import { TokenService } from '../../src/identity/tokens.ts'
import { createPostgresDatabase } from '../support/databases.ts'
import { type RunningServer, startServer } from '../support/server.ts'
import { tempDir } from '../support/tmp.ts'
import { tinyWav } from './hostile.ts'
import { type Credentials, type FuzzTarget, httpCase, httpViolations, sendHttp } from './http-surface.ts'
import { messageCase, messageSurfaces, messageViolations } from './message-surfaces.ts'
import { type DocumentedRoute, documentedRoutes, routeName, unguardedStrings } from './openapi-routes.ts'
import { openSse, SSE_PATHS, sseCase, sseViolations } from './sse-surface.ts'
import { expectVictimUnchanged, seedVictim, type Victim } from './victim.ts'

const SEED = Number(process.env.FUZZ_SEED ?? 17_017)
const TOTAL_REQUESTS = Number(process.env.FUZZ_REQUESTS ?? 20_000)
/** Requests sent at once: enough to keep both cores busy, few enough to stay well inside the server's limits. */
const BATCH = 8
/** Message-surface connections open at once. */
const SOCKETS = 4
/**
 * Shares of each database's requests that go to the message surfaces and the SSE streams; HTTP gets the rest. The
 * SSE test runs last and makes up whatever the message surfaces (whose cases vary in length) fell short by.
 */
const MESSAGE_SHARE = 0.1
const SSE_SHARE = 0.015
const MESSAGE_TIMEOUT_MS = 5_000
const SSE_FIRST_EVENT_MS = 300
const INGEST_KEY = 'fuzz-ingest-key-0123456789'
/** Longest one property may run, shrinking included (a passing one takes seconds). */
const SHRINK_TIME_LIMIT_MS = 150_000
/** What a server fault looks like in the log (src/http/error-handler.ts, src/ws/gateway.ts). */
const FAULT_LINE = /unhandled|handler failed/i

const databases: Array<{ name: string; url?: () => Promise<{ url: string; drop(): Promise<void> }> }> = [
  { name: 'pglite' },
]
const postgresUrl = process.env.TEST_DATABASE_URL
if (postgresUrl) databases.push({ name: 'postgres', url: () => createPostgresDatabase(postgresUrl) })
const perDatabase = Math.ceil(TOTAL_REQUESTS / databases.length)

const totals = { http: 0, message: 0, sse: 0, startedAt: performance.now() }
const routesCovered = new Set<string>()
const routesDocumented = new Set<string>()

/** The server log lines that report a fault, written since `mark`. */
function faultLines(server: RunningServer, mark: number): string[] {
  return server
    .output()
    .slice(mark)
    .split('\n')
    .filter((line) => FAULT_LINE.test(line))
}

/** A server that died mid-run: its exit code and the end of what it printed, else nothing. */
function exitReport(server: RunningServer): string[] {
  const code = server.process.exitCode ?? server.process.signalCode
  return code === null
    ? []
    : [`the server exited (${code}); it printed last:\n${server.output().slice(-3000)}`]
}

/** Runs `property` over `runs` generated values with the suite's seed; a failure names the seed and the case. */
async function check<T>(arbitrary: fc.Arbitrary<T>, runs: number, predicate: (value: T) => Promise<void>) {
  await fc.assert(fc.asyncProperty(arbitrary, predicate), {
    seed: SEED,
    numRuns: runs,
    verbose: 1,
    // Shrinking a hang re-runs it many times: stop and report the smallest case found by then.
    interruptAfterTimeLimit: SHRINK_TIME_LIMIT_MS,
    markInterruptAsFailure: true,
  })
}

for (const database of databases) {
  describe(`hostile input, ${database.name}`, () => {
    const library = tempDir('airwave-fuzz-library-')
    let postgres: { url: string; drop(): Promise<void> } | undefined
    let server: RunningServer
    let target: FuzzTarget
    let routes: Map<string, DocumentedRoute>
    let victim: Victim
    let before: Record<string, unknown>
    let credentials: Credentials

    /** Requests sent before this database's tests, so its own count is known. */
    let sentBefore = 0

    beforeAll(async () => {
      sentBefore = totals.http + totals.message + totals.sse
      writeFileSync(join(library.path, 'Fuzz Band - Library Song.wav'), tinyWav(8000))
      postgres = await database.url?.()
      server = await startServer({
        AUDIO_FILES_DIR: library.path,
        INGEST_API_KEYS: INGEST_KEY,
        INGEST_RATE_LIMIT: '1000000',
        LIVESTREAM_HTTP_STREAM_PER_MIN: '1000000',
        LIVESTREAM_HTTP_STATUS_PER_MIN: '1000000',
        // Each accepted start runs an FFmpeg: keep them few and short-lived.
        LIVESTREAM_HTTP_GENERAL_PER_MIN: '5',
        LIVESTREAM_GRACE_S: '1',
        AUDIOBOOK_CONCURRENCY: '1',
        ...(postgres ? { DATABASE_URL: postgres.url } : {}),
      })
      const documented = await documentedRoutes(server.url)
      routes = new Map(documented.map((route) => [routeName(route), route]))
      for (const name of routes.keys()) routesDocumented.add(name)
      const user = await server.token('mallory')
      credentials = {
        user,
        admin: await server.token('fuzz-admin', { role: 'admin' }),
        ingestKey: INGEST_KEY,
        expired: await server.token('mallory', { ttlSeconds: -60 }),
        forged: await new TokenService('another-secret-that-is-long-enough').sign({ userId: 'victim' }, 3600),
      }
      const listed = (await (
        await fetch(`${server.url}/api/tracks`, { headers: { authorization: `Bearer ${user}` } })
      ).json()) as { data: Array<{ id: string }> }
      const libraryTrackId = listed.data[0]?.id
      if (!libraryTrackId) throw new Error('the fuzz library track was not scanned')
      victim = await seedVictim(server, libraryTrackId)
      before = await victim.snapshot()
      target = {
        baseUrl: server.url,
        routes: documented,
        ids: [
          ...victim.ids,
          libraryTrackId,
          victim.userId,
          'mallory',
          'playback:victim',
          'fuzz-stream',
          'stream.m3u8',
          'segment_0.ts',
          'pi-1',
        ],
        credentials,
      }
    }, 180_000)

    afterAll(async () => {
      await server?.stop()
      await postgres?.drop()
      library.remove()
    })

    test('every free-text string of every documented body is a GuardedString (Elysia checks bodies by schema)', () => {
      const unguarded = [...routes.entries()].flatMap(([name, route]) =>
        unguardedStrings(route.body).map((path) => `${name}: ${path}`),
      )
      expect(unguarded).toEqual([])
    })

    test('HTTP: every documented route, hostile ids, queries, headers and bodies', async () => {
      const runs = Math.ceil((perDatabase * (1 - MESSAGE_SHARE - SSE_SHARE)) / BATCH)
      await check(fc.array(httpCase(target), { minLength: BATCH, maxLength: BATCH }), runs, async (batch) => {
        const mark = server.output().length
        const answers = await Promise.all(
          batch.map((request) =>
            sendHttp(server.url, request).catch((error: Error) => new Error(`no answer: ${error.message}`)),
          ),
        )
        totals.http += batch.length
        const problems = batch.flatMap((request, i) => {
          routesCovered.add(request.route)
          const answer = answers[i] as Awaited<ReturnType<typeof sendHttp>> | Error
          const found = answer instanceof Error ? [answer.message] : httpViolations(request, answer)
          return found.map((problem) => `${request.method} ${request.target.slice(0, 300)} → ${problem}`)
        })
        await Bun.sleep(1)
        problems.push(
          ...faultLines(server, mark).map((line) => `logged: ${line.slice(0, 500)}`),
          ...exitReport(server),
        )
        if (problems.length > 0) throw new Error(problems.join('\n'))
      })
    }, 300_000)

    for (const surface of messageSurfaces) {
      test(`${surface.name}: hostile connection parameters, envelopes, text and binary frames`, async () => {
        // A case sends 1–8 messages (about 5 with its connection); SOCKETS of them at once.
        const share = MESSAGE_SHARE / messageSurfaces.length
        const runs = Math.ceil((perDatabase * share) / (SOCKETS * 5))
        const cases = fc.array(messageCase(credentials, target.ids), {
          minLength: SOCKETS,
          maxLength: SOCKETS,
        })
        await check(cases, runs, async (cases) => {
          const mark = server.output().length
          const outcomes = await Promise.all(
            cases.map((testCase) => surface.exchange(server.url, testCase, MESSAGE_TIMEOUT_MS)),
          )
          // Each message, plus the connection itself.
          totals.message += cases.reduce((sum, testCase) => sum + testCase.messages.length + 1, 0)
          const problems = outcomes.flatMap(messageViolations)
          await Bun.sleep(1)
          problems.push(
            ...faultLines(server, mark).map((line) => `logged: ${line.slice(0, 500)}`),
            ...exitReport(server),
          )
          if (problems.length > 0) throw new Error(problems.join('\n'))
        })
      }, 300_000)
    }

    test('SSE: radio listening and the inspector feed with hostile queries and Last-Event-ID', async () => {
      const sentSoFar = totals.http + totals.message + totals.sse - sentBefore
      const runs = Math.max(Math.ceil(perDatabase * SSE_SHARE), perDatabase - sentSoFar)
      await check(sseCase(credentials), runs, async (testCase) => {
        const mark = server.output().length
        const answer = await openSse(server.url, testCase, SSE_FIRST_EVENT_MS)
        totals.sse += 1
        routesCovered.add(`GET ${testCase.path}`)
        const problems = sseViolations(testCase, answer)
        problems.push(
          ...faultLines(server, mark).map((line) => `logged: ${line.slice(0, 500)}`),
          ...exitReport(server),
        )
        if (problems.length > 0) throw new Error(problems.join('\n'))
      })
      expect(Object.keys(SSE_PATHS).every((path) => routes.has(`GET ${path}`))).toBe(true)
    }, 300_000)

    test('afterwards: healthy, no fault in the log, the victim’s data unchanged', async () => {
      await Bun.sleep(200)
      expect(server.process.exitCode).toBeNull()
      const health = await fetch(`${server.url}/health`)
      expect(health.status).toBe(200)
      expect(faultLines(server, 0)).toEqual([])
      await expectVictimUnchanged(victim, before)
      expect([...routes.keys()].filter((name) => !routesCovered.has(name))).toEqual([])
    }, 60_000)
  })
}

afterAll(() => {
  const seconds = ((performance.now() - totals.startedAt) / 1000).toFixed(1)
  const total = totals.http + totals.message + totals.sse
  console.log(
    `fuzz: seed ${SEED}, ${total} requests (HTTP ${totals.http}, ${messageSurfaces.map((s) => s.name).join('+')} ` +
      `${totals.message}, SSE ${totals.sse}) against ${databases.map((d) => d.name).join(' and ')} in ${seconds} s; ` +
      `${routesCovered.size}/${routesDocumented.size} documented routes covered:\n  ${[...routesCovered].sort().join('\n  ')}`,
  )
})
