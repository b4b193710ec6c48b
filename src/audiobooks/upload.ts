/**
 * Reads a job upload (multipart/form-data: `title`, `files` = chapters in order, optional `chapter_titles`) into a
 * staging directory with the shared streaming reader, under the AUDIOBOOK_* limits, and validates what arrived.
 */
import { rm } from 'node:fs/promises'
import type { AudiobookLimits } from '../config.ts'
import {
  type MultipartRules,
  type ReceivedFile,
  receiveMultipart,
  sizeText,
} from '../http/multipart-upload.ts'
import { cleanTitle } from '../platform/display-text.ts'
import { BadRequestError, PayloadTooLargeError, UnsupportedMediaTypeError } from '../platform/errors.ts'

/** Longest job or chapter title kept, in characters. */
export const MAX_TITLE_LENGTH = 300
/** Largest text field (a JSON array of every chapter title fits easily). */
const MAX_FIELD_BYTES = 512 * 1024

export type UploadLimits = Pick<AudiobookLimits, 'maxFileBytes' | 'maxTotalBytes' | 'maxChapters'>

/** A chapter's file as staged: `dir/source_{n}`, so FFmpeg recognises the content, not the name the client chose. */
export type StagedFile = ReceivedFile

export interface StagedUpload {
  title: string
  /** One per file, in order: the given title or `Chapter n`. */
  chapterTitles: string[]
  files: StagedFile[]
}

/**
 * `chapter_titles` may come as one field per chapter or as one field holding a JSON array of strings.
 * Returns the titles, or throws BadRequestError when a JSON array holds anything but strings.
 */
export function chapterTitlesFrom(values: string[]): string[] {
  const [only] = values
  if (values.length === 1 && only !== undefined && only.trim().startsWith('[')) {
    let parsed: unknown
    try {
      parsed = JSON.parse(only)
    } catch {
      // Not JSON after all: a single title that happens to start with a bracket, e.g. "[Prologue]".
      return values
    }
    if (!Array.isArray(parsed) || !parsed.every((item) => typeof item === 'string')) {
      throw new BadRequestError('chapter_titles must be a JSON array of strings', 'INVALID_CHAPTER_TITLES')
    }
    return parsed
  }
  return values
}

function jobRules(limits: UploadLimits): MultipartRules {
  return {
    fileField: 'files',
    maxFileBytes: limits.maxFileBytes,
    maxTotalBytes: limits.maxTotalBytes,
    maxFiles: limits.maxChapters,
    maxFields: limits.maxChapters + 16,
    maxFieldBytes: MAX_FIELD_BYTES,
    errors: {
      notMultipart: () =>
        new UnsupportedMediaTypeError(
          'Send the job as multipart/form-data with a "title" field and one or more "files"',
        ),
      unexpectedFile: (field) =>
        new BadRequestError(`Unexpected file field "${field}": send chapters as "files"`, 'UNEXPECTED_FILE'),
      fileTooLarge: (name) =>
        new PayloadTooLargeError(
          `"${name}" is larger than ${sizeText(limits.maxFileBytes)}, the most one file may be`,
          'FILE_TOO_LARGE',
        ),
      totalTooLarge: () =>
        new PayloadTooLargeError(
          `The upload is larger than ${sizeText(limits.maxTotalBytes)} in total`,
          'UPLOAD_TOO_LARGE',
        ),
      tooManyFiles: () =>
        new PayloadTooLargeError(
          `Too many files: a job may have at most ${limits.maxChapters} chapters`,
          'TOO_MANY_CHAPTERS',
        ),
    },
  }
}

/**
 * Reads `request` into `dir` (created here, removed again on any failure). Throws 415 for a body that is not
 * multipart/form-data, 413 when a file, the total or the chapter count passes `limits`, 400 for anything missing
 * or malformed.
 */
export async function stageUpload(
  request: Request,
  dir: string,
  limits: UploadLimits,
): Promise<StagedUpload> {
  const form = await receiveMultipart(request, dir, jobRules(limits))
  const values = (...names: string[]) =>
    form.fields.filter((field) => names.includes(field.name)).map((field) => field.value)
  try {
    return validated(values('title'), values('chapter_titles', 'chapter_titles[]'), form.files)
  } catch (error) {
    await rm(dir, { recursive: true, force: true })
    throw error
  }
}

function validated(titles: string[], chapterTitleValues: string[], files: StagedFile[]): StagedUpload {
  const title = cleanTitle(titles[0] ?? '')
  if (title === '') throw new BadRequestError('A "title" field is required', 'TITLE_REQUIRED')
  if (title.length > MAX_TITLE_LENGTH) {
    throw new BadRequestError(`The title is longer than ${MAX_TITLE_LENGTH} characters`, 'TITLE_TOO_LONG')
  }
  if (files.length === 0) {
    throw new BadRequestError('At least one audio file is required in "files"', 'FILES_REQUIRED')
  }
  const empty = files.findIndex((file) => file.size === 0)
  if (empty >= 0)
    throw new BadRequestError(`File ${empty + 1} ("${files[empty]?.name}") is empty`, 'EMPTY_FILE')

  const given = chapterTitlesFrom(chapterTitleValues).map(cleanTitle)
  if (given.length > 0 && given.length !== files.length) {
    throw new BadRequestError(
      `chapter_titles has ${given.length} entries for ${files.length} files: give one per file, in order`,
      'CHAPTER_TITLES_MISMATCH',
    )
  }
  if (given.some((chapterTitle) => chapterTitle.length > MAX_TITLE_LENGTH)) {
    throw new BadRequestError(
      `A chapter title is longer than ${MAX_TITLE_LENGTH} characters`,
      'TITLE_TOO_LONG',
    )
  }
  return {
    title,
    chapterTitles: files.map((_, i) => given[i] || `Chapter ${i + 1}`),
    files,
  }
}
