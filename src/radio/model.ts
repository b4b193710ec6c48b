/**
 * Radio request shapes (radio-ingest-and-listen.md) and their validation. Ingest bodies are checked here rather
 * than by Elysia so every problem gets the document's message (`Missing required field: chunk_data`) in the
 * `{success:false,error}` shape.
 */
import { t } from 'elysia'
import { BadRequestError } from '../platform/errors.ts'

/** Largest ingest request body accepted (a 100 ms chunk is about 270 base64 characters). */
export const MAX_INGEST_BODY_BYTES = 256 * 1024
/** Largest chunk after base64 decoding: several seconds of Ogg Opus pages, far above a 100 ms chunk. */
export const MAX_CHUNK_BYTES = 64 * 1024
export const SLOTS = [1, 2] as const
/** DMR radio and talkgroup ids are 24-bit; anything up to 2^32 - 1 is accepted. */
export const MAX_ID = 0xffff_ffff
export const DEFAULT_HISTORY_LIMIT = 50
export const MAX_HISTORY_LIMIT = 500

/** What the ingest body becomes once validated. */
export interface IngestRequest {
  slot: number
  radioId: number
  talkgroupId: number
  chunkData: Uint8Array
  sequence: number
  /** As sent, when sent. */
  timestamp?: string
  /** Epoch ms of `timestamp`. */
  capturedAt?: number
  saveRecording: boolean
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{2,3})?$/
const ISO_8601 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?$/

/** For OpenAPI only: the documented ingest body. */
export const IngestBodyDoc = t.Object({
  slot: t.Integer({ minimum: 1, maximum: 2 }),
  radio_id: t.Integer({ minimum: 0 }),
  talkgroup_id: t.Integer({ minimum: 0 }),
  chunk_data: t.String({
    description: 'Base64 of one raw Opus packet or of whole Ogg Opus pages',
    pattern: BASE64.source,
  }),
  sequence: t.Integer({ minimum: 0 }),
  timestamp: t.Optional(
    t.String({ description: 'ISO 8601; read as UTC when it has no zone', pattern: ISO_8601.source }),
  ),
  save_recording: t.Optional(t.Boolean({ default: false })),
})

/** History filters (CONTRACT "Radio"), as strings: `parseHistoryQuery` checks them with clear messages. */
export const HistoryQuery = t.Object({
  slot: t.Optional(t.String({ description: '1 or 2' })),
  radio_id: t.Optional(t.String({ description: 'integer' })),
  talkgroup_id: t.Optional(t.String({ description: 'integer, or integers separated by commas' })),
  system: t.Optional(t.String({ description: 'scanner system id: only its calls' })),
  source: t.Optional(t.String({ description: 'unit id heard in the call' })),
  emergency: t.Optional(t.String({ description: 'true or false' })),
  q: t.Optional(t.String({ description: 'text in the system, talkgroup or unit labels' })),
  cursor: t.Optional(t.String({ description: 'next_cursor of the previous page' })),
  from: t.Optional(t.String({ description: 'ISO 8601: transmissions started at or after' })),
  to: t.Optional(t.String({ description: 'ISO 8601: transmissions started at or before' })),
  limit: t.Optional(t.String({ description: `1 to ${MAX_HISTORY_LIMIT}, default ${DEFAULT_HISTORY_LIMIT}` })),
})

export interface HistoryFilters {
  slot?: number
  radioId?: number
  talkgroupIds?: number[]
  system?: number
  source?: number
  emergency?: boolean
  q?: string
  /** The page continues after this row (newest first). */
  before?: HistoryCursor
  from?: Date
  to?: Date
  limit: number
}

/** Where a history page ended: the last row's start and id. */
export interface HistoryCursor {
  startedAt: number
  id: string
}

/** Talkgroups one history query may name. */
export const MAX_QUERY_TALKGROUPS = 100
/** Longest `q` search text. */
export const MAX_SEARCH_CHARS = 100

export function encodeCursor(cursor: HistoryCursor): string {
  return Buffer.from(`${cursor.startedAt}:${cursor.id}`).toString('base64url')
}

function decodeCursor(value: string | undefined): HistoryCursor | undefined {
  if (value === undefined) return undefined
  const text = /^[A-Za-z0-9_-]{1,400}$/.test(value) ? Buffer.from(value, 'base64url').toString() : ''
  const match = /^(\d{1,15}):([A-Za-z0-9_]{1,200})$/.exec(text)
  if (!match)
    throw new BadRequestError('Invalid cursor: pass next_cursor from the previous page', 'INVALID_QUERY')
  return { startedAt: Number(match[1]), id: match[2] as string }
}

/** `100,200` → [100, 200]: each an integer id, at most MAX_QUERY_TALKGROUPS. */
export function queryIdList(value: string | undefined, name: string): number[] | undefined {
  if (value === undefined) return undefined
  const parts = value.split(',')
  if (parts.length > MAX_QUERY_TALKGROUPS)
    throw new BadRequestError(`Invalid ${name}: at most ${MAX_QUERY_TALKGROUPS} ids`, 'INVALID_QUERY')
  return parts.map((part) => queryInteger(part.trim(), name, 0, MAX_ID) as number)
}

function queryBoolean(value: string | undefined, name: string): boolean | undefined {
  if (value === undefined) return undefined
  if (value === 'true' || value === '1') return true
  if (value === 'false' || value === '0') return false
  throw new BadRequestError(`Invalid ${name}: must be true or false`, 'INVALID_QUERY')
}

function querySearch(value: string | undefined): string | undefined {
  if (value === undefined || value.trim() === '') return undefined
  if (value.length > MAX_SEARCH_CHARS)
    throw new BadRequestError(`Invalid q: at most ${MAX_SEARCH_CHARS} characters`, 'INVALID_QUERY')
  return value.trim()
}

function queryInteger(value: string | undefined, name: string, min: number, max: number): number | undefined {
  if (value === undefined) return undefined
  const n = /^\d{1,16}$/.test(value) ? Number(value) : Number.NaN
  if (!(n >= min && n <= max)) {
    throw new BadRequestError(`Invalid ${name}: must be an integer from ${min} to ${max}`, 'INVALID_QUERY')
  }
  return n
}

function queryDate(value: string | undefined, name: string): Date | undefined {
  if (value === undefined) return undefined
  const ms = parseIsoDate(value)
  if (ms === undefined)
    throw new BadRequestError(`Invalid ${name}: must be an ISO 8601 date-time`, 'INVALID_QUERY')
  return new Date(ms)
}

export function parseHistoryQuery(query: typeof HistoryQuery.static): HistoryFilters {
  return {
    slot: queryInteger(query.slot, 'slot', 1, 2),
    radioId: queryInteger(query.radio_id, 'radio_id', 0, MAX_ID),
    talkgroupIds: queryIdList(query.talkgroup_id, 'talkgroup_id'),
    system: queryInteger(query.system, 'system', 0, MAX_ID),
    source: queryInteger(query.source, 'source', 0, MAX_ID),
    emergency: queryBoolean(query.emergency, 'emergency'),
    q: querySearch(query.q),
    before: decodeCursor(query.cursor),
    from: queryDate(query.from, 'from'),
    to: queryDate(query.to, 'to'),
    limit: queryInteger(query.limit, 'limit', 1, MAX_HISTORY_LIMIT) ?? DEFAULT_HISTORY_LIMIT,
  }
}

const REQUIRED = ['slot', 'radio_id', 'talkgroup_id', 'chunk_data', 'sequence'] as const

function integerField(body: Record<string, unknown>, name: string, min: number, max: number): number {
  const value = body[name]
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new BadRequestError(
      `Invalid field: ${name} must be an integer from ${min} to ${max}`,
      'INVALID_FIELD',
    )
  }
  return value
}

/** Epoch ms of an ISO 8601 date-time; one without a zone is UTC (CONTRACT: transmission ids are in UTC). */
export function parseIsoDate(text: string): number | undefined {
  if (!ISO_8601.test(text)) return undefined
  const zoned = /(Z|[+-]\d{2}:?\d{2})$/.test(text) ? text : `${text}Z`
  const ms = Date.parse(zoned)
  return Number.isNaN(ms) ? undefined : ms
}

/** Validates a parsed ingest body; throws BadRequestError naming the first problem. */
export function parseIngestBody(body: unknown): IngestRequest {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new BadRequestError('Request body must be a JSON object', 'INVALID_BODY')
  }
  const fields = body as Record<string, unknown>
  for (const name of REQUIRED) {
    if (fields[name] === undefined || fields[name] === null) {
      throw new BadRequestError(`Missing required field: ${name}`, 'MISSING_FIELD')
    }
  }
  const slot = fields.slot
  if (typeof slot !== 'number' || !(SLOTS as readonly number[]).includes(slot)) {
    throw new BadRequestError('Invalid slot: must be 1 or 2', 'INVALID_SLOT')
  }
  const radioId = integerField(fields, 'radio_id', 0, MAX_ID)
  const talkgroupId = integerField(fields, 'talkgroup_id', 0, MAX_ID)
  const sequence = integerField(fields, 'sequence', 0, Number.MAX_SAFE_INTEGER)

  const chunkText = fields.chunk_data
  if (typeof chunkText !== 'string') {
    throw new BadRequestError('Invalid field: chunk_data must be a base64 string', 'INVALID_FIELD')
  }
  if (chunkText === '') throw new BadRequestError('Invalid field: chunk_data is empty', 'INVALID_CHUNK')
  if (chunkText.length > Math.ceil(MAX_CHUNK_BYTES / 3) * 4) {
    throw new BadRequestError(
      `Invalid field: chunk_data is larger than ${MAX_CHUNK_BYTES} bytes`,
      'CHUNK_TOO_LARGE',
    )
  }
  if (!BASE64.test(chunkText)) {
    throw new BadRequestError('Invalid field: chunk_data is not valid base64', 'INVALID_BASE64')
  }

  let timestamp: string | undefined
  let capturedAt: number | undefined
  if (fields.timestamp !== undefined && fields.timestamp !== null) {
    capturedAt = typeof fields.timestamp === 'string' ? parseIsoDate(fields.timestamp) : undefined
    if (capturedAt === undefined) {
      throw new BadRequestError('Invalid field: timestamp must be an ISO 8601 date-time', 'INVALID_FIELD')
    }
    timestamp = fields.timestamp as string
  }
  const save = fields.save_recording
  if (save !== undefined && save !== null && typeof save !== 'boolean') {
    throw new BadRequestError('Invalid field: save_recording must be true or false', 'INVALID_FIELD')
  }
  const chunkData = Buffer.from(chunkText, 'base64')
  return {
    slot,
    radioId,
    talkgroupId,
    chunkData: new Uint8Array(chunkData.buffer, chunkData.byteOffset, chunkData.byteLength),
    sequence,
    timestamp,
    capturedAt,
    saveRecording: save === true,
  }
}
