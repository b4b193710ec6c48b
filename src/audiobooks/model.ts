/** Audiobook request schemas and the documented response shapes (snake_case, ISO 8601 times). */
import { t } from 'elysia'
import type { SignedUrl } from '../platform/storage/blob-store.ts'
import type { ChapterRow, JobRow, ReadyChapter } from './service.ts'

export const jobParams = t.Object({ id: t.String({ maxLength: 64 }) })
export const audioParams = t.Object({ job_id: t.String({ maxLength: 64 }) })

/** `?chapter=n` picks a chapter of a multi-chapter book (1-based); the first when absent. */
export const chapterQuery = t.Object({ chapter: t.Optional(t.Integer({ minimum: 1, maximum: 100_000 })) })

export const listQuery = t.Object({
  limit: t.Optional(t.Integer({ minimum: 1, maximum: 200, default: 100 })),
})

export const progressBody = t.Object({
  /** Seconds from the start of the book. */
  position: t.Number({ minimum: 0, maximum: 10_000_000 }),
  /** 1-based chapter the position falls in; derived from the position when absent. */
  chapter: t.Optional(t.Integer({ minimum: 1, maximum: 100_000 })),
  /** The `version` this client last read or wrote (see progress.ts). */
  version: t.Optional(t.Integer({ minimum: 0 })),
})

const iso = (date: Date | null) => date?.toISOString() ?? null

/** A job as `POST/GET /api/v1/jobs` answer it. */
export function jobJson(job: JobRow, chapters: ChapterRow[]) {
  return {
    job_id: job.id,
    title: job.title,
    status: job.status,
    error: job.error,
    format: job.format,
    duration: job.duration,
    file_size: job.fileSize,
    chapter_count: chapters.length,
    created_at: iso(job.createdAt),
    started_at: iso(job.startedAt),
    completed_at: iso(job.completedAt),
    updated_at: iso(job.updatedAt),
  }
}

/** `GET /api/v1/audio/{job_id}/metadata`: the document's fields; `chapters` is empty for a one-file book, as documented. */
export function metadataJson(job: JobRow, chapters: ReadyChapter[]) {
  return {
    job_id: job.id,
    title: job.title,
    status: job.status,
    format: job.format,
    duration: job.duration,
    file_size: job.fileSize,
    created_at: iso(job.createdAt),
    completed_at: iso(job.completedAt),
    chapters:
      chapters.length === 1
        ? []
        : chapters.map((chapter) => ({
            index: chapter.index,
            title: chapter.title,
            start: chapter.start,
            end: chapter.end,
            duration: chapter.duration,
            file_key: chapter.fileKey,
            file_size: chapter.fileSize,
          })),
    chapter_count: chapters.length,
  }
}

/** `GET /api/v1/audio/{job_id}/stream`; multi-chapter books add which chapter the URL plays. */
export function streamJson(url: SignedUrl, chapter: ReadyChapter, chapterCount: number, contentType: string) {
  return {
    streaming_url: url.url,
    expires_at: url.expiresAt.toISOString(),
    file_key: chapter.fileKey,
    content_type: contentType,
    chapter: chapter.index,
    chapter_count: chapterCount,
    chapter_title: chapter.title,
    start: chapter.start,
    duration: chapter.duration,
  }
}
