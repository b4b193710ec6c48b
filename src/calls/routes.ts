import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import { Elysia } from 'elysia'
import { type ReceivedForm, receiveMultipart, sizeText } from '../http/multipart-upload.ts'
import { AppError, BadRequestError, MethodNotAllowedError, PayloadTooLargeError } from '../platform/errors.ts'
import {
  type CallUpload,
  callFromOpenMhzForm,
  callFromRdioScannerForm,
  callFromTrunkRecorderMeta,
  IncompleteCallError,
} from './model.ts'
import { CallKeyRefused, type CallService } from './service.ts'

/** Text fields a call form may carry, and the largest (a long call's `sources` JSON runs to tens of KiB). */
const MAX_FIELDS = 64
const MAX_FIELD_BYTES = 256 * 1024
/** What OpenMHz accepts as a call file's name. */
const OPENMHZ_FILE = /\.(m4a|mp3|wav|aac)$/i

export const RDIO_SCANNER_REPLY = 'Call imported successfully.'

/**
 * The uploaders' APIs: rdio-scanner's `/api/call-upload` (trunk-recorder's rdioscanner_uploader, SDRTrunk) and
 * `/api/trunk-recorder-call-upload`, and OpenMHz's `/openmhz/:shortName/upload` (trunk-recorder's `uploadServer`
 * pointed at `…/openmhz`). Replies are plain text in each server's own words (src/http/error-handler.ts keeps
 * errors on these paths as text), so the uploaders read them as they read the originals'.
 */
export function callRoutes(calls: CallService, stagingDir: string, maxFileBytes: number) {
  const receive = (request: Request, dir: string, fileField: string): Promise<ReceivedForm> =>
    receiveMultipart(request, dir, {
      fileField,
      maxFileBytes,
      maxTotalBytes: maxFileBytes,
      maxFiles: 1,
      maxFields: MAX_FIELDS,
      maxFieldBytes: MAX_FIELD_BYTES,
      errors: {
        notMultipart: () =>
          new BadRequestError('Invalid content type: send multipart/form-data', 'NOT_MULTIPART'),
        unexpectedFile: (field) =>
          new BadRequestError(`Unexpected file in field "${field}"`, 'UNEXPECTED_FILE'),
        fileTooLarge: () => tooLarge(maxFileBytes),
        totalTooLarge: () => tooLarge(maxFileBytes),
        tooManyFiles: () => new BadRequestError('One audio file per call', 'TOO_MANY_FILES'),
      },
    })

  /** Receives the form, builds the call and imports it; the form's files are removed whatever happens. */
  const importForm = async (
    request: Request,
    fileField: string,
    toCall: (fields: Map<string, string>) => Promise<{ call: CallUpload; key: string | undefined }>,
    refusal: (error: CallKeyRefused) => AppError,
    incomplete: (error: IncompleteCallError) => AppError,
    checkFile: (name: string) => void = () => {},
  ): Promise<void> => {
    if (request.method !== 'POST') throw new MethodNotAllowedError('POST')
    const dir = join(stagingDir, crypto.randomUUID())
    const form = await receive(request, dir, fileField)
    const audio = form.files[0]
    try {
      const fields = new Map(form.fields.map((f) => [f.name, f.value]))
      const { call, key } = await toCall(fields)
      if (!audio || audio.size === 0) throw new IncompleteCallError('audio')
      checkFile(audio.name)
      await calls.authorize(key, call.system, call.talkgroup)
      await calls.import({ ...call, audioName: call.audioName ?? audio.name }, audio.path)
    } catch (error) {
      if (error instanceof CallKeyRefused) throw refusal(error)
      if (error instanceof IncompleteCallError) throw incomplete(error)
      throw error
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  }

  const rdioScanner =
    (toCall: (fields: Map<string, string>) => CallUpload) =>
    async ({ request }: { request: Request }) => {
      await importForm(
        request,
        'audio',
        async (fields) => ({ call: toCall(fields), key: fields.get('key') }),
        (refused) => refused,
        (incomplete) => new AppError(417, 'INCOMPLETE_CALL', incomplete.message),
      )
      return new Response(RDIO_SCANNER_REPLY, { headers: { 'content-type': 'text/plain; charset=utf-8' } })
    }

  const openMhz = async ({ request, params }: { request: Request; params: { shortName: string } }) => {
    await importForm(
      request,
      'call',
      async (fields) => {
        const system = await calls.shortNameSystem(params.shortName.toLowerCase())
        if (system === null) throw new AppError(404, 'SHORT_NAME_NOT_FOUND', 'ShortName does not exist')
        return { call: callFromOpenMhzForm(fields, system), key: fields.get('api_key') }
      },
      (refused) =>
        refused.reason === 'invalid-key'
          ? new AppError(403, 'INVALID_API_KEY', 'API Keys do not match')
          : new AppError(403, 'TALKGROUP_NOT_ALLOWED', 'Talkgroup does not exist'),
      (incomplete) =>
        incomplete.missing === 'audio'
          ? new BadRequestError('Error, invalid filename', 'INVALID_FILENAME')
          : new BadRequestError(
              incomplete.missing === 'talkgroup' ? 'Talkgroup does not exist' : incomplete.message,
              'INCOMPLETE_CALL',
            ),
      (name) => {
        if (!OPENMHZ_FILE.test(name)) throw new BadRequestError('Error, invalid filename', 'INVALID_FILENAME')
      },
    )
    return new Response('', { status: 200 })
  }

  return new Elysia({ name: 'call-uploads' })
    .all('/api/call-upload', rdioScanner(callFromRdioScannerForm), {
      parse: 'none',
      detail: {
        summary: 'Import a scanner call (rdio-scanner API: trunk-recorder, SDRTrunk)',
        tags: ['calls'],
      },
    })
    .all(
      '/api/trunk-recorder-call-upload',
      rdioScanner((fields) => callFromTrunkRecorderMeta(fields.get('meta'), fields.get('system'))),
      {
        parse: 'none',
        detail: { summary: "Import a scanner call (trunk-recorder's call JSON in `meta`)", tags: ['calls'] },
      },
    )
    .all('/openmhz/:shortName/upload', openMhz, {
      parse: 'none',
      detail: { summary: 'Import a scanner call (OpenMHz API)', tags: ['calls'] },
    })
}

function tooLarge(maxFileBytes: number): PayloadTooLargeError {
  return new PayloadTooLargeError(`Call audio is larger than ${sizeText(maxFileBytes)}`, 'FILE_TOO_LARGE')
}
