/**
 * Streams a multipart/form-data request body to files in a directory, enforcing every limit while the bytes
 * arrive: memory stays bounded whatever the upload's size, and an oversized upload is cut off early.
 * Features (audiobook jobs, track uploads) give their limits and their own words for each refusal.
 */
import { createWriteStream } from 'node:fs'
import { mkdir, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import busboy from 'busboy'
import { cleanTitle } from '../platform/display-text.ts'
import { type AppError, BadRequestError, PayloadTooLargeError } from '../platform/errors.ts'
import { guardText } from './input-guard.ts'

/** Room for multipart boundaries and part headers on top of the file bytes when checking Content-Length. */
const FRAMING_ALLOWANCE_BYTES = 1024 * 1024

export interface MultipartRules {
  /** The one field files may come in; a file in any other field is refused with `errors.unexpectedFile`. */
  fileField: string
  /** Largest single file, in bytes (a file of exactly this size is accepted). */
  maxFileBytes: number
  /** Largest sum of all files, in bytes; also the bound on a declared Content-Length (plus framing). */
  maxTotalBytes: number
  maxFiles: number
  maxFields: number
  /** Largest text field, in bytes. */
  maxFieldBytes: number
  /** The feature's refusals, in its own words and codes. */
  errors: {
    notMultipart(): AppError
    unexpectedFile(field: string): AppError
    fileTooLarge(fileName: string): AppError
    totalTooLarge(): AppError
    tooManyFiles(): AppError
  }
}

/** One file written to disk: `dir/source_{n}`, no extension, so nothing downstream trusts the client's name. */
export interface ReceivedFile {
  path: string
  /** The client's file name, for messages and fallback titles; `file n` when none was sent. */
  name: string
  size: number
}

export interface ReceivedForm {
  /** Text fields in arrival order. */
  fields: Array<{ name: string; value: string }>
  files: ReceivedFile[]
}

const MIB = 1024 * 1024

/** `1000 bytes`, `2.5 MiB`: sizes in refusal messages. */
export function sizeText(bytes: number): string {
  return bytes < MIB ? `${bytes} bytes` : `${Math.round((bytes / MIB) * 10) / 10} MiB`
}

/**
 * Reads `request` into `dir` (created here, removed again on any failure). Refuses a body that is not
 * multipart/form-data, a declared Content-Length over the total before reading anything, and any limit of
 * `rules` as soon as it is passed; malformed or empty bodies and oversized fields are 400 / 413.
 */
export async function receiveMultipart(
  request: Request,
  dir: string,
  rules: MultipartRules,
): Promise<ReceivedForm> {
  const contentType = request.headers.get('content-type') ?? ''
  if (!/^multipart\/form-data\s*;/i.test(contentType)) throw rules.errors.notMultipart()
  const declaredLength = Number(request.headers.get('content-length') ?? Number.NaN)
  if (declaredLength > rules.maxTotalBytes + FRAMING_ALLOWANCE_BYTES) throw rules.errors.totalTooLarge()
  if (!request.body) throw new BadRequestError('The upload is empty', 'EMPTY_UPLOAD')

  await mkdir(dir, { recursive: true })
  try {
    return await parseInto(request.body, contentType, dir, rules)
  } catch (error) {
    await rm(dir, { recursive: true, force: true })
    throw error
  }
}

/** busboy for `contentType`; it throws at once for a malformed one (no boundary, broken parameters): a 400. */
function multipartParser(contentType: string, rules: MultipartRules): busboy.Busboy {
  try {
    return busboy({
      headers: { 'content-type': contentType },
      defParamCharset: 'utf8',
      limits: {
        // busboy reports a file as over the limit once it *reaches* it; a file of exactly the limit is allowed.
        fileSize: rules.maxFileBytes + 1,
        // busboy emits 'filesLimit' when a file past this count arrives; it is refused, never silently dropped.
        files: rules.maxFiles,
        fields: rules.maxFields,
        fieldSize: rules.maxFieldBytes,
      },
    })
  } catch (error) {
    throw new BadRequestError(
      `Malformed multipart Content-Type: ${(error as Error).message}`,
      'MALFORMED_UPLOAD',
    )
  }
}

async function parseInto(
  body: ReadableStream<Uint8Array>,
  contentType: string,
  dir: string,
  rules: MultipartRules,
): Promise<ReceivedForm> {
  const parser = multipartParser(contentType, rules)
  const source = Readable.fromWeb(body as unknown as Parameters<typeof Readable.fromWeb>[0])
  let failure: Error | undefined
  const fail = (error: Error) => {
    failure ??= error
    source.destroy(failure)
  }

  const form: ReceivedForm = { fields: [], files: [] }
  const writes: Promise<void>[] = []
  let total = 0

  /** The input guard's verdict on a part's text, as this upload's failure; false when it was refused. */
  const guarded = (value: string, where: string) => {
    try {
      guardText(value, where)
      return true
    } catch (error) {
      fail(error as Error)
      return false
    }
  }
  parser.on('file', (field, stream, info) => {
    if (field !== rules.fileField || failure || !guarded(info.filename ?? '', 'file name')) {
      // Drained, never kept. Once the upload has failed, busboy destroys this part with that failure: without a
      // listener its 'error' event would be thrown from the event loop and end the process.
      stream.on('error', () => {})
      stream.resume()
      if (!failure) fail(rules.errors.unexpectedFile(field))
      return
    }
    const index = form.files.length + 1
    const file: ReceivedFile = {
      path: join(dir, `source_${index}`),
      name: info.filename || `file ${index}`,
      size: 0,
    }
    form.files.push(file)
    stream.on('data', (chunk: Buffer) => {
      file.size += chunk.length
      total += chunk.length
      if (total > rules.maxTotalBytes) fail(rules.errors.totalTooLarge())
    })
    stream.on('limit', () => fail(rules.errors.fileTooLarge(cleanTitle(file.name))))
    writes.push(pipeline(stream, createWriteStream(file.path)).catch((error: Error) => fail(error)))
  })
  // busboy gives a part without a `name` parameter an undefined name, despite its types.
  parser.on('field', (given: string | undefined, value, info) => {
    const name = given ?? ''
    if (info.valueTruncated)
      fail(new PayloadTooLargeError(`The "${name}" field is too long`, 'FIELD_TOO_LARGE'))
    else if (guarded(name, 'form field name') && guarded(value, `form field "${name.slice(0, 64)}"`))
      form.fields.push({ name, value })
  })
  parser.on('filesLimit', () => fail(rules.errors.tooManyFiles()))
  parser.on('fieldsLimit', () => fail(new BadRequestError('Too many form fields', 'TOO_MANY_FIELDS')))

  try {
    await pipeline(source, parser)
  } catch (error) {
    fail(
      failure === undefined
        ? new BadRequestError(`Malformed multipart body: ${(error as Error).message}`, 'MALFORMED_UPLOAD')
        : failure,
    )
  }
  await Promise.all(writes)
  if (failure) throw failure
  return form
}
