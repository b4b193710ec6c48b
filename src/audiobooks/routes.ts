/**
 * The audiobook API of audiobook-streaming-api.md: jobs (`/api/v1/jobs`), signed streaming URLs, metadata,
 * M3U playlists and listening progress (`/api/v1/audio/:job_id/*`). Every route needs a JWT; a job is only ever
 * visible to its owner (404 for anyone else).
 */
import { Elysia } from 'elysia'
import { authPlugin } from '../identity/auth-plugin.ts'
import type { TokenService } from '../identity/tokens.ts'
import { BadRequestError } from '../platform/errors.ts'
import {
  audioParams,
  chapterQuery,
  jobJson,
  jobParams,
  listQuery,
  metadataJson,
  progressBody,
  streamJson,
} from './model.ts'
import { chapterLabel, M3U_CONTENT_TYPE, m3u } from './playlist.ts'
import { progressJson } from './progress.ts'
import { type AudiobookService, STREAM_HEADERS } from './service.ts'

const tags = ['audiobooks']

export function audiobookRoutes(tokens: TokenService, audiobooks: AudiobookService) {
  return new Elysia({ name: 'audiobook-routes' })
    .use(authPlugin(tokens))
    .post(
      '/api/v1/jobs',
      async ({ request, user, set }) => {
        const { job, chapters } = await audiobooks.createJob(user.userId, request)
        set.status = 201
        return jobJson(job, chapters)
      },
      {
        auth: true,
        // The body is streamed to disk by the service with its own limits; Elysia must not buffer it first.
        parse: 'none',
        detail: {
          summary: 'Create a job: multipart title, files (chapters in order), optional chapter_titles',
          tags,
        },
      },
    )
    .get(
      '/api/v1/jobs',
      async ({ user, query }) => {
        const owned = await audiobooks.listJobs(user.userId, query.limit ?? 100)
        return { jobs: owned.map(({ job, chapters }) => jobJson(job, chapters)) }
      },
      { auth: true, query: listQuery, detail: { summary: "The caller's jobs, newest first", tags } },
    )
    .get(
      '/api/v1/jobs/:id',
      async ({ user, params }) => {
        const { job, chapters } = await audiobooks.ownedJob(user.userId, params.id)
        return jobJson(job, chapters)
      },
      { auth: true, params: jobParams, detail: { summary: 'A job and its status', tags } },
    )
    .delete(
      '/api/v1/jobs/:id',
      async ({ user, params, set }) => {
        await audiobooks.deleteJob(user.userId, params.id)
        set.status = 204
      },
      { auth: true, params: jobParams, detail: { summary: 'Delete a job and its audio', tags } },
    )
    .get(
      '/api/v1/jobs/:id/audio',
      async ({ user, params, query }) => {
        const { job, chapters } = await audiobooks.completedJob(user.userId, params.id)
        const chapter = audiobooks.chapterOf(chapters, query.chapter)
        const [download, streaming] = await Promise.all([
          audiobooks.downloadUrl(job, chapter, chapters.length),
          audiobooks.streamingUrl(chapter),
        ])
        return {
          download_url: download.url,
          streaming_url: streaming.url,
          file_key: chapter.fileKey,
          content_type: STREAM_HEADERS.contentType,
          expires_at: streaming.expiresAt.toISOString(),
          chapter: chapter.index,
          chapter_count: chapters.length,
        }
      },
      {
        auth: true,
        params: jobParams,
        query: chapterQuery,
        detail: { summary: 'Download and streaming URLs of the audio (or of ?chapter=n)', tags },
      },
    )
    .get(
      '/api/v1/audio/:job_id/stream',
      async ({ user, params, query }) => {
        const { chapters } = await audiobooks.completedJob(user.userId, params.job_id)
        const chapter = audiobooks.chapterOf(chapters, query.chapter)
        const url = await audiobooks.streamingUrl(chapter)
        return streamJson(url, chapter, chapters.length, STREAM_HEADERS.contentType)
      },
      {
        auth: true,
        params: audioParams,
        query: chapterQuery,
        detail: { summary: 'A signed URL that plays the audio (or ?chapter=n) inline', tags },
      },
    )
    .get(
      '/api/v1/audio/:job_id/metadata',
      async ({ user, params }) => {
        const { job, chapters } = await audiobooks.completedJob(user.userId, params.job_id)
        return metadataJson(job, chapters)
      },
      { auth: true, params: audioParams, detail: { summary: 'Duration, format, size and chapters', tags } },
    )
    .get(
      '/api/v1/audio/:job_id/playlist',
      async ({ user, params }) => {
        const { job, chapters } = await audiobooks.completedJob(user.userId, params.job_id)
        const urls = await Promise.all(chapters.map((chapter) => audiobooks.streamingUrl(chapter)))
        const entries = chapters.map((chapter, i) => ({
          duration: chapter.duration,
          title: chapters.length === 1 ? job.title : chapterLabel(chapter.index, chapter.title),
          url: urls[i]?.url ?? '',
        }))
        return new Response(m3u(entries), {
          headers: {
            'content-type': M3U_CONTENT_TYPE,
            'content-disposition': 'inline; filename="playlist.m3u"',
            // The URLs inside expire: never let a cache hand out a stale copy.
            'cache-control': 'no-store',
          },
        })
      },
      {
        auth: true,
        params: audioParams,
        detail: { summary: 'M3U playlist with signed chapter URLs and durations', tags },
      },
    )
    .get(
      '/api/v1/audio/:job_id/progress',
      async ({ user, params }) => {
        const { job } = await audiobooks.ownedJob(user.userId, params.job_id)
        return progressJson(job.id, await audiobooks.progress.get(user.userId, job.id))
      },
      {
        auth: true,
        params: audioParams,
        detail: { summary: "The caller's saved position in this book", tags },
      },
    )
    .put(
      '/api/v1/audio/:job_id/progress',
      async ({ user, params, body }) => {
        const { job, chapters } = await audiobooks.completedJob(user.userId, params.job_id)
        const duration = job.duration ?? 0
        // Players report slightly past the end; anything further is a bug or a forgery.
        if (body.position > duration + 1) {
          throw new BadRequestError(
            `position ${body.position} is past the end of the book (${duration.toFixed(3)} s)`,
            'POSITION_OUT_OF_RANGE',
          )
        }
        const chapter =
          body.chapter === undefined
            ? (chapters.find((c) => body.position < c.end) ?? chapters.at(-1))?.index
            : audiobooks.chapterOf(chapters, body.chapter).index
        const saved = await audiobooks.progress.save(user.userId, job.id, {
          position: Math.min(body.position, duration),
          chapter: chapter ?? null,
          version: body.version,
        })
        return progressJson(job.id, saved)
      },
      {
        auth: true,
        params: audioParams,
        body: progressBody,
        detail: {
          summary:
            'Save the position; send back `version` to move it backwards (stale writes only move it forward)',
          tags,
        },
      },
    )
}
