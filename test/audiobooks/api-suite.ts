/**
 * The audiobook API end to end against the real server (port known in advance so PUBLIC_URL is right), run once
 * with local storage and once with S3 through s3rver. Everything goes through HTTP, as a client would.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { join } from 'node:path'
import { type RunningServer, startServer } from '../support/server.ts'
import { tempDir } from '../support/tmp.ts'
import { ffprobeDuration, freePort, makeTone } from './fixtures.ts'

/** How the storage under test differs: its env, and how a refused signed URL looks. */
export interface StorageUnderTest {
  name: 'local' | 's3'
  env(): Record<string, string>
  /** Where signed URLs must point. */
  urlPrefix(serverUrl: string): string
  /** Asserts `url`'s signature cannot survive an edit (by fetching, or by recomputing it where the store cannot). */
  expectTamperRefused(url: string): Promise<void>
  /** The status an expired URL gets. */
  expiredStatus: number
}

export const SIGNED_URL_TTL = 4
const CORS_ORIGIN = 'http://player.test'
const TOLERANCE_S = 0.1
export function audiobookApiSuite(storage: StorageUnderTest): void {
  describe(`audiobook API with ${storage.name} storage`, () => {
    let server: RunningServer
    let alice: string
    let bob: string
    const files = tempDir('airwave-audiobook-fixtures-')
    const fixture: Record<string, string> = {}

    beforeAll(async () => {
      const port = freePort()
      ;[server] = await Promise.all([
        startServer({
          PORT: String(port),
          PUBLIC_URL: `http://127.0.0.1:${port}`,
          SIGNED_URL_TTL: String(SIGNED_URL_TTL),
          CORS_ORIGIN,
          AUDIOBOOK_MAX_FILE_MB: '1',
          AUDIOBOOK_MAX_TOTAL_MB: '2',
          AUDIOBOOK_MAX_CHAPTERS: '3',
          AUDIOBOOK_CONCURRENCY: '1',
          ...storage.env(),
        }),
        (async () => {
          fixture.intro = await makeTone(files.path, 'intro.wav', 2, 330)
          fixture.journey = await makeTone(files.path, 'journey.ogg', 3, 440)
          fixture.epilogue = await makeTone(files.path, 'epilogue.mp3', 1.5, 550)
          fixture.single = await makeTone(files.path, 'single.m4a', 2.5)
          fixture.long = await makeTone(files.path, 'long.ogg', 120)
          fixture.big = await makeTone(files.path, 'big.wav', 15) // 1.3 MB: over the 1 MiB per-file limit
          await Bun.write(join(files.path, 'notes.txt'), 'These are my notes, not audio.\n')
          fixture.notes = join(files.path, 'notes.txt')
        })(),
      ])
      ;[alice, bob] = await Promise.all([server.token('alice'), server.token('bob')])
    }, 60_000)
    afterAll(async () => {
      await server?.stop()
      files.remove()
    })

    const call = (path: string, token: string | null, init: RequestInit = {}) =>
      fetch(`${server.url}${path}`, {
        ...init,
        headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(init.headers ?? {}) },
      })
    const json = async (path: string, token = alice) => {
      const response = await call(path, token)
      return { status: response.status, body: (await response.json()) as Record<string, any> }
    }
    const upload = async (title: string, paths: string[], chapterTitles?: string[], token = alice) => {
      const form = new FormData()
      form.append('title', title)
      for (const path of paths) form.append('files', Bun.file(path), path.split('/').at(-1))
      for (const chapterTitle of chapterTitles ?? []) form.append('chapter_titles', chapterTitle)
      const response = await call('/api/v1/jobs', token, { method: 'POST', body: form })
      return { status: response.status, body: (await response.json()) as Record<string, any> }
    }
    const settle = async (jobId: string) => {
      const deadline = Date.now() + 30_000
      for (;;) {
        const { body } = await json(`/api/v1/jobs/${jobId}`)
        if (body.status === 'COMPLETED' || body.status === 'FAILED') return body
        if (Date.now() > deadline) throw new Error(`job ${jobId} still ${body.status}`)
        await Bun.sleep(100)
      }
    }
    const bytes = async (response: Response) => new Uint8Array(await response.arrayBuffer())
    const near = (actual: number, expected: number) =>
      expect(Math.abs(actual - expected)).toBeLessThanOrEqual(TOLERANCE_S)

    let book: Record<string, any>
    let single: Record<string, any>

    test('POST /api/v1/jobs answers 201 with the PENDING job at once, owned by the caller', async () => {
      const created = await upload(
        'My Book',
        [fixture.intro, fixture.journey, fixture.epilogue] as string[],
        ['Introduction', 'The Journey Begins', 'Epilogue'],
      )
      expect(created.status).toBe(201)
      book = created.body
      expect(book).toEqual({
        job_id: expect.stringMatching(/^[0-9a-f-]{36}$/),
        title: 'My Book',
        status: 'PENDING',
        error: null,
        format: null,
        duration: null,
        file_size: null,
        chapter_count: 3,
        created_at: expect.any(String),
        started_at: null,
        completed_at: null,
        updated_at: expect.any(String),
      })
      const singleCreated = await upload('Short Story', [fixture.single as string])
      expect(singleCreated.status).toBe(201)
      single = singleCreated.body
    })

    test('endpoints answer 409 with the status while a job is not completed', async () => {
      // Concurrency 1 and a 2-minute chapter ahead in the queue keep the next job PENDING for a while.
      const ahead = await upload('Long', [fixture.long as string])
      const queued = await upload('Queued', [fixture.intro as string])
      for (const path of ['stream', 'metadata', 'playlist']) {
        const { status, body } = await json(`/api/v1/audio/${queued.body.job_id}/${path}`)
        expect(status).toBe(409)
        expect(body).toMatchObject({ status: 'error', code: 'JOB_NOT_COMPLETED', job_id: queued.body.job_id })
        expect(['PENDING', 'PROCESSING']).toContain(body.job_status)
      }
      expect((await json(`/api/v1/jobs/${queued.body.job_id}/audio`)).status).toBe(409)
      await settle(ahead.body.job_id)
      expect((await settle(queued.body.job_id)).status).toBe('COMPLETED')
    }, 60_000)

    test('processing completes with real durations, sizes and timestamps', async () => {
      const done = await settle(book.job_id)
      expect(done).toMatchObject({ status: 'COMPLETED', error: null, format: 'audio/mpeg', chapter_count: 3 })
      // Each chapter is within TOLERANCE_S of its source (checked below); the total adds up three of them.
      expect(Math.abs(done.duration - 6.5)).toBeLessThanOrEqual(3 * TOLERANCE_S)
      expect(done.file_size).toBeGreaterThan(10_000)
      expect(Date.parse(done.started_at)).toBeGreaterThanOrEqual(Date.parse(done.created_at))
      expect(Date.parse(done.completed_at)).toBeGreaterThanOrEqual(Date.parse(done.started_at))
      expect((await settle(single.job_id)).status).toBe('COMPLETED')
      const { body } = await json('/api/v1/jobs')
      expect(body.jobs.map((job: { title: string }) => job.title)).toEqual([
        'Queued',
        'Long',
        'Short Story',
        'My Book',
      ])
    }, 60_000)

    test('GET /metadata has every documented field, with chapter times', async () => {
      const { status, body } = await json(`/api/v1/audio/${book.job_id}/metadata`)
      expect(status).toBe(200)
      const job = (await json(`/api/v1/jobs/${book.job_id}`)).body
      expect(Object.keys(body)).toEqual([
        'job_id',
        'title',
        'status',
        'format',
        'duration',
        'file_size',
        'created_at',
        'completed_at',
        'chapters',
        'chapter_count',
      ])
      expect(body).toMatchObject({
        job_id: book.job_id,
        title: 'My Book',
        status: 'COMPLETED',
        format: 'audio/mpeg',
        duration: job.duration,
        file_size: job.file_size,
        created_at: job.created_at,
        completed_at: job.completed_at,
        chapter_count: 3,
      })
      const titles = ['Introduction', 'The Journey Begins', 'Epilogue']
      const sources = [2, 3, 1.5]
      let start = 0
      body.chapters.forEach((chapter: Record<string, any>, i: number) => {
        expect(chapter).toEqual({
          index: i + 1,
          title: titles[i],
          start,
          end: start + chapter.duration,
          duration: expect.any(Number),
          file_key: `jobs/${book.job_id}/chapter_${i + 1}.mp3`,
          file_size: expect.any(Number),
        })
        near(chapter.duration, sources[i] as number)
        start = chapter.end
      })
      near(start, body.duration)
      expect(body.file_size).toBe(
        body.chapters.reduce((sum: number, c: { file_size: number }) => sum + c.file_size, 0),
      )
      // A one-file book has no chapter list, as in the document.
      const one = await json(`/api/v1/audio/${single.job_id}/metadata`)
      expect(one.body).toMatchObject({ title: 'Short Story', chapters: [], chapter_count: 1 })
      near(one.body.duration, 2.5)
    })

    test('GET /stream gives a signed URL that plays inline, with Range and CORS', async () => {
      const before = Date.now()
      const { status, body } = await json(`/api/v1/audio/${single.job_id}/stream`)
      expect(status).toBe(200)
      expect(body).toMatchObject({
        file_key: `jobs/${single.job_id}/audio.mp3`,
        content_type: 'audio/mpeg',
      })
      // (Bun 1.4's toMatchObject overwrites received values matched by asymmetric matchers, so no expect.* above.)
      expect(body.streaming_url).toStartWith(storage.urlPrefix(server.url))
      const expiresAt = Date.parse(body.expires_at)
      expect(expiresAt).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000 + (SIGNED_URL_TTL - 1) * 1000)
      expect(expiresAt).toBeLessThanOrEqual(Date.now() + SIGNED_URL_TTL * 1000 + 1000)

      const full = await fetch(body.streaming_url, { headers: { origin: CORS_ORIGIN } })
      expect(full.status).toBe(200)
      expect(full.headers.get('content-type')).toBe('audio/mpeg')
      expect(full.headers.get('content-disposition')).toBe('inline')
      expect(full.headers.get('cache-control')).toBe('public, max-age=3600')
      expect(full.headers.get('access-control-allow-origin')).toBe(CORS_ORIGIN)
      const all = await bytes(full)
      const metadata = (await json(`/api/v1/audio/${single.job_id}/metadata`)).body
      expect(all.length).toBe(metadata.file_size)

      const ranged = await fetch(body.streaming_url, { headers: { range: 'bytes=100-199' } })
      expect(ranged.status).toBe(206)
      expect(ranged.headers.get('content-range')).toBe(`bytes 100-199/${all.length}`)
      expect(ranged.headers.get('content-type')).toBe('audio/mpeg')
      expect(Buffer.compare(await bytes(ranged), all.subarray(100, 200))).toBe(0)

      const chapter2 = await json(`/api/v1/audio/${book.job_id}/stream?chapter=2`)
      expect(chapter2.body).toMatchObject({
        file_key: `jobs/${book.job_id}/chapter_2.mp3`,
        chapter: 2,
        chapter_count: 3,
      })
      expect((await json(`/api/v1/audio/${book.job_id}/stream?chapter=4`)).status).toBe(404)
      expect((await json(`/api/v1/audio/${book.job_id}/stream?chapter=0`)).status).toBe(400)
    })

    test('GET /playlist is an M3U with signed chapter URLs whose durations match ffprobe', async () => {
      const response = await call(`/api/v1/audio/${book.job_id}/playlist`, alice)
      expect(response.status).toBe(200)
      expect(response.headers.get('content-type')).toBe('audio/x-mpegurl; charset=utf-8')
      const lines = (await response.text()).trimEnd().split('\n')
      expect(lines[0]).toBe('#EXTM3U')
      expect(lines).toHaveLength(7)
      const labels = ['Chapter 1 - Introduction', 'Chapter 2 - The Journey Begins', 'Chapter 3 - Epilogue']
      for (let i = 0; i < 3; i++) {
        const match = /^#EXTINF:([\d.]+),(.*)$/.exec(lines[1 + i * 2] as string)
        expect(match?.[2]).toBe(labels[i] as string)
        const url = lines[2 + i * 2] as string
        expect(url).toStartWith(storage.urlPrefix(server.url))
        const audio = await fetch(url)
        expect(audio.status).toBe(200)
        const path = join(files.path, `downloaded_${storage.name}_${i + 1}.mp3`)
        await Bun.write(path, await audio.arrayBuffer())
        near(Number(match?.[1]), await ffprobeDuration(path))
      }
      const one = await (await call(`/api/v1/audio/${single.job_id}/playlist`, alice)).text()
      expect(one).toMatch(/^#EXTM3U\n#EXTINF:2\.5\d*,Short Story\nhttp\S+\n$/)
    })

    test('GET /api/v1/jobs/:id/audio gives a download URL (attachment) and a streaming URL', async () => {
      const { status, body } = await json(`/api/v1/jobs/${book.job_id}/audio`)
      expect(status).toBe(200)
      expect(body).toMatchObject({
        file_key: `jobs/${book.job_id}/chapter_1.mp3`,
        content_type: 'audio/mpeg',
      })
      expect(body.download_url).toStartWith(storage.urlPrefix(server.url))
      expect(body.streaming_url).toStartWith(storage.urlPrefix(server.url))
      const download = await fetch(body.download_url)
      expect(download.status).toBe(200)
      expect(download.headers.get('content-disposition')).toBe(
        'attachment; filename="My Book - Chapter 1.mp3"',
      )
      expect(download.headers.get('content-type')).toBe('audio/mpeg')
      const streaming = await fetch(body.streaming_url)
      expect(streaming.headers.get('content-disposition')).toBe('inline')
      expect(Buffer.compare(await bytes(download), await bytes(streaming))).toBe(0)
    })

    test('a tampered signed URL is refused', async () => {
      const { body } = await json(`/api/v1/audio/${book.job_id}/stream`)
      await storage.expectTamperRefused(body.streaming_url)
    })

    test('an expired signed URL is refused with 403', async () => {
      const { body } = await json(`/api/v1/audio/${single.job_id}/stream`)
      expect((await fetch(body.streaming_url)).status).toBe(200)
      // A signed URL lives SIGNED_URL_TTL seconds; nothing else in the server can be made to age it.
      await Bun.sleep(Date.parse(body.expires_at) - Date.now() + 1100)
      expect((await fetch(body.streaming_url)).status).toBe(storage.expiredStatus)
    }, 15_000)

    test("another user's job is 404 everywhere; no token is 401", async () => {
      for (const path of [
        `/api/v1/jobs/${book.job_id}`,
        `/api/v1/jobs/${book.job_id}/audio`,
        `/api/v1/audio/${book.job_id}/stream`,
        `/api/v1/audio/${book.job_id}/metadata`,
        `/api/v1/audio/${book.job_id}/playlist`,
        `/api/v1/audio/${book.job_id}/progress`,
      ]) {
        expect((await call(path, bob)).status).toBe(404)
        expect((await call(path, null)).status).toBe(401)
      }
      expect((await call(`/api/v1/jobs/${book.job_id}`, bob, { method: 'DELETE' })).status).toBe(404)
      expect((await json('/api/v1/jobs', bob)).body).toEqual({ jobs: [] })
      expect((await call('/api/v1/jobs', null)).status).toBe(401)
      expect((await json('/api/v1/jobs/not-a-uuid')).status).toBe(404)
    })

    test('a corrupt or non-audio upload ends FAILED with a readable reason, and the server keeps serving', async () => {
      const created = await upload('Notes', [fixture.intro, fixture.notes] as string[])
      expect(created.status).toBe(201)
      const failed = await settle(created.body.job_id)
      expect(failed).toMatchObject({
        status: 'FAILED',
        error:
          'Chapter 2 ("notes.txt") is not a readable audio file: Invalid data found when processing input',
      })
      const refused = await json(`/api/v1/audio/${created.body.job_id}/stream`)
      expect(refused).toMatchObject({
        status: 409,
        body: { code: 'JOB_NOT_COMPLETED', job_status: 'FAILED' },
      })
      expect(refused.body.message).toContain('notes.txt')
      expect((await fetch(`${server.url}/health`)).status).toBe(200)
      expect((await json(`/api/v1/audio/${book.job_id}/metadata`)).status).toBe(200)
    }, 30_000)

    test('upload limits: 413 per file and per chapter count, 415 and 400 for the wrong body', async () => {
      const big = await upload('Big', [fixture.big as string])
      expect(big).toMatchObject({ status: 413, body: { status: 'error', code: 'FILE_TOO_LARGE' } })
      expect(big.body.message).toBe('"big.wav" is larger than 1 MiB, the most one file may be')
      const many = await upload('Many', [
        fixture.intro,
        fixture.intro,
        fixture.intro,
        fixture.intro,
      ] as string[])
      expect(many).toMatchObject({ status: 413, body: { code: 'TOO_MANY_CHAPTERS' } })
      const asJson = await call('/api/v1/jobs', alice, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ title: 'x' }),
      })
      expect(asJson.status).toBe(415)
      expect((await upload('', [fixture.intro as string])).status).toBe(400)
      expect((await json('/api/v1/jobs')).body.jobs.map((job: { title: string }) => job.title)).not.toContain(
        'Big',
      )
    })

    test('progress is kept per user and job; a stale write does not move it backwards', async () => {
      const path = `/api/v1/audio/${book.job_id}/progress`
      const put = (body: unknown, token = alice) =>
        call(path, token, {
          method: 'PUT',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(body),
        })
      expect((await json(path)).body).toEqual({
        job_id: book.job_id,
        position: 0,
        chapter: null,
        version: 0,
        updated_at: null,
      })
      const first = await put({ position: 3.5 })
      expect(first.status).toBe(200)
      expect(await first.json()).toMatchObject({ position: 3.5, chapter: 2, version: 1 })
      const stale = await put({ position: 1, version: 0 })
      expect(stale.status).toBe(409)
      expect(await stale.json()).toMatchObject({
        code: 'STALE_PROGRESS',
        progress: { position: 3.5, version: 1 },
      })
      expect(await (await put({ position: 1, version: 1 })).json()).toMatchObject({
        position: 1,
        chapter: 1,
        version: 2,
      })
      expect((await json(path)).body).toMatchObject({ position: 1, chapter: 1, version: 2 })
      expect((await put({ position: 999 })).status).toBe(400)
      expect((await put({ position: -1 })).status).toBe(400)
      expect((await put({ position: 1, chapter: 9 })).status).toBe(404)
      expect((await put({ position: 1 }, bob)).status).toBe(404)
    })

    test('DELETE removes the job and its audio', async () => {
      const { body } = await json(`/api/v1/audio/${single.job_id}/stream`)
      expect((await call(`/api/v1/jobs/${single.job_id}`, alice, { method: 'DELETE' })).status).toBe(204)
      expect((await json(`/api/v1/jobs/${single.job_id}`)).status).toBe(404)
      expect((await fetch(body.streaming_url)).status).toBe(404)
      expect((await call(`/api/v1/jobs/${single.job_id}`, alice, { method: 'DELETE' })).status).toBe(404)
    })
  })
}
