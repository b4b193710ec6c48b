/**
 * Streams a job upload (multipart/form-data) to files in a staging directory, enforcing every limit while the
 * bytes arrive: memory stays bounded whatever the upload's size, and an oversized upload is cut off early.
 */
import { createWriteStream } from 'node:fs'
import { mkdir, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import busboy from 'busboy'
import type { AudiobookLimits } from '../config.ts'
import { AppError, BadRequestError, PayloadTooLargeError } from '../platform/errors.ts'

/** Longest job or chapter title kept, in characters. */
export const MAX_TITLE_LENGTH = 300
/** Room for multipart boundaries and part headers on top of the file bytes when checking Content-Length. */
const FRAMING_ALLOWANCE_BYTES = 1024 * 1024
/** Largest text field (a JSON array of every chapter title fits easily). */
const MAX_FIELD_BYTES = 512 * 1024

export type UploadLimits = Pick<AudiobookLimits, 'maxFileBytes' | 'maxTotalBytes' | 'maxChapters'>

export interface StagedFile {
  /** `dir/source_{n}`: no extension, so FFmpeg recognises the content, not the name the client chose. */
  path: string
  /** The client's file name, for messages. */
  name: string
  size: number
}

export interface StagedUpload {
  title: string
  /** One per file, in order: the given title or `Chapter n`. */
  chapterTitles: string[]
  files: StagedFile[]
}

const MIB = 1024 * 1024
const megabytes = (bytes: number) =>
  bytes < MIB ? `${bytes} bytes` : `${Math.round((bytes / MIB) * 10) / 10} MiB`

// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point.
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f-\u009f]+/g

/** Control characters (newlines included) become spaces, so a title can never break an M3U line or a log line. */
export function cleanTitle(raw: string): string {
  return raw.replace(CONTROL_CHARACTERS, ' ').replace(/\s+/g, ' ').trim()
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
  const contentType = request.headers.get('content-type') ?? ''
  if (!/^multipart\/form-data\s*;/i.test(contentType)) {
    throw new AppError(
      415,
      'UNSUPPORTED_MEDIA_TYPE',
      'Send the job as multipart/form-data with a "title" field and one or more "files"',
    )
  }
  const declaredLength = Number(request.headers.get('content-length') ?? Number.NaN)
  if (declaredLength > limits.maxTotalBytes + FRAMING_ALLOWANCE_BYTES) {
    throw totalTooLarge(limits)
  }
  if (!request.body) throw new BadRequestError('The upload is empty', 'EMPTY_UPLOAD')

  await mkdir(dir, { recursive: true })
  try {
    return await parseInto(request.body, contentType, dir, limits)
  } catch (error) {
    await rm(dir, { recursive: true, force: true })
    throw error
  }
}

function totalTooLarge(limits: UploadLimits): AppError {
  return new PayloadTooLargeError(
    `The upload is larger than ${megabytes(limits.maxTotalBytes)} in total`,
    'UPLOAD_TOO_LARGE',
  )
}

async function parseInto(
  body: ReadableStream<Uint8Array>,
  contentType: string,
  dir: string,
  limits: UploadLimits,
): Promise<StagedUpload> {
  const parser = busboy({
    headers: { 'content-type': contentType },
    defParamCharset: 'utf8',
    limits: {
      // busboy reports a file as over the limit once it *reaches* it; a file of exactly the limit is allowed.
      fileSize: limits.maxFileBytes + 1,
      // busboy emits 'filesLimit' when a file past this count arrives; it is refused, never silently dropped.
      files: limits.maxChapters,
      fields: limits.maxChapters + 16,
      fieldSize: MAX_FIELD_BYTES,
    },
  })
  const source = Readable.fromWeb(body as unknown as Parameters<typeof Readable.fromWeb>[0])
  let failure: Error | undefined
  const fail = (error: Error) => {
    failure ??= error
    source.destroy(failure)
  }

  const files: StagedFile[] = []
  const writes: Promise<void>[] = []
  const titles: string[] = []
  const chapterTitleValues: string[] = []
  let total = 0

  parser.on('file', (field, stream, info) => {
    if (field !== 'files' || failure) {
      stream.resume()
      if (!failure) {
        fail(
          new BadRequestError(
            `Unexpected file field "${field}": send chapters as "files"`,
            'UNEXPECTED_FILE',
          ),
        )
      }
      return
    }
    const index = files.length + 1
    const file: StagedFile = {
      path: join(dir, `source_${index}`),
      name: info.filename || `file ${index}`,
      size: 0,
    }
    files.push(file)
    stream.on('data', (chunk: Buffer) => {
      file.size += chunk.length
      total += chunk.length
      if (total > limits.maxTotalBytes) fail(totalTooLarge(limits))
    })
    stream.on('limit', () =>
      fail(
        new PayloadTooLargeError(
          `"${cleanTitle(file.name)}" is larger than ${megabytes(limits.maxFileBytes)}, the most one file may be`,
          'FILE_TOO_LARGE',
        ),
      ),
    )
    writes.push(pipeline(stream, createWriteStream(file.path)).catch((error: Error) => fail(error)))
  })
  parser.on('field', (field, value, info) => {
    if (info.valueTruncated) {
      fail(new PayloadTooLargeError(`The "${field}" field is too long`, 'FIELD_TOO_LARGE'))
    } else if (field === 'title') titles.push(value)
    else if (field === 'chapter_titles' || field === 'chapter_titles[]') chapterTitleValues.push(value)
  })
  parser.on('filesLimit', () =>
    fail(
      new PayloadTooLargeError(
        `Too many files: a job may have at most ${limits.maxChapters} chapters`,
        'TOO_MANY_CHAPTERS',
      ),
    ),
  )
  parser.on('fieldsLimit', () => fail(new BadRequestError('Too many form fields', 'TOO_MANY_FIELDS')))

  try {
    await pipeline(source, parser)
  } catch (error) {
    fail(
      error instanceof AppError
        ? error
        : new BadRequestError(`Malformed multipart body: ${(error as Error).message}`, 'MALFORMED_UPLOAD'),
    )
  }
  await Promise.all(writes)
  if (failure) throw failure
  return validated(titles, chapterTitleValues, files)
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
