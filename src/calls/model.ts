import { cleanTitle } from '../platform/display-text.ts'

/**
 * Scanner calls as the uploaders send them: rdio-scanner's `/api/call-upload` form (trunk-recorder's
 * `rdioscanner_uploader`, SDRTrunk), trunk-recorder's call JSON (`/api/trunk-recorder-call-upload`) and OpenMHz's
 * upload form. Each is read into one `CallUpload`; what is missing is named in the uploader's own words.
 */

/** A unit that keyed up during the call: its id, where in the call (seconds) and its alias when known. */
export interface CallSource {
  pos: number
  src: number
  tag?: string
  emergency?: boolean
}

export interface CallFrequency {
  freq: number
  pos?: number
  len?: number
  errorCount?: number
  spikeCount?: number
}

/** One call, whatever API it came through. */
export interface CallUpload {
  system: number
  talkgroup: number
  /** When the call started (epoch ms). */
  startedAt: number
  /** Seconds, as the uploader reported it (the transcode measures its own). */
  reportedLength?: number
  frequency?: number
  frequencies: CallFrequency[]
  patches: number[]
  sources: CallSource[]
  emergency: boolean
  systemLabel?: string
  talkgroupLabel?: string
  talkgroupTag?: string
  talkgroupGroup?: string
  talkgroupName?: string
  audioName?: string
  audioType?: string
}

/** What a call's history row keeps beyond its indexed columns. */
export interface CallDetails {
  frequencies: CallFrequency[]
  patches: number[]
  talkgroupName?: string
  audioName?: string
  audioType?: string
  /** Seconds, as the uploader reported it. */
  reportedLength?: number
}

/** Why a call cannot be imported: rdio-scanner's `Incomplete call data: no …`. */
export type MissingPart = 'audio' | 'datetime' | 'system' | 'talkgroup'

export class IncompleteCallError extends Error {
  constructor(readonly missing: MissingPart) {
    super(`Incomplete call data: no ${missing}`)
  }
}

/** Labels are shown on pages and searched: control characters dropped, length bounded. */
export const MAX_LABEL_CHARS = 200
/** Sources, frequencies and patches a call may carry (a long call on a busy talkgroup has dozens). */
export const MAX_LIST_ITEMS = 500
const MAX_ID = 0xffff_ffff

type Fields = ReadonlyMap<string, string>

export function label(value: string | undefined): string | undefined {
  if (value === undefined) return undefined
  const clean = cleanTitle(value).slice(0, MAX_LABEL_CHARS)
  return clean === '' ? undefined : clean
}

/** A non-negative integer id (system, talkgroup, unit), else undefined. */
export function idOf(value: unknown): number | undefined {
  const n =
    typeof value === 'number'
      ? value
      : typeof value === 'string' && /^\s*\d{1,10}\s*$/.test(value)
        ? Number(value)
        : Number.NaN
  return Number.isInteger(n) && n >= 0 && n <= MAX_ID ? n : undefined
}

function finite(value: unknown): number | undefined {
  const n =
    typeof value === 'number'
      ? value
      : typeof value === 'string' && value.trim() !== ''
        ? Number(value)
        : Number.NaN
  return Number.isFinite(n) ? n : undefined
}

/**
 * A call's start: epoch seconds (trunk-recorder, SDRTrunk), epoch milliseconds (rdio-scanner's `timestamp`) or
 * RFC 3339. Values before 2000 or more than a day ahead are refused as not a call time.
 */
export function parseCallTime(value: string | undefined, now = Date.now()): number | undefined {
  if (value === undefined || value.trim() === '') return undefined
  const text = value.trim()
  let ms: number
  if (/^\d+(\.\d+)?$/.test(text)) {
    const n = Number(text)
    ms = n > 1e11 ? n : n * 1000
  } else if (/^\d{4}-\d{2}-\d{2}T/.test(text)) {
    ms = Date.parse(text)
  } else return undefined
  if (!Number.isFinite(ms) || ms < Date.UTC(2000, 0, 1) || ms > now + 86_400_000) return undefined
  return Math.round(ms)
}

/**
 * Parses a JSON array leniently: trunk-recorder writes a unit's `tag` without escaping it, so a quote or backslash
 * in an alias breaks strict JSON. On a parse failure the `"tag":"…"` values are re-escaped and parsing is tried again;
 * anything still unreadable is an empty list, never a refused call.
 */
export function lenientJsonArray(text: string | undefined): unknown[] {
  if (text === undefined || text.trim() === '') return []
  for (const candidate of [text, reescapeTags(text)]) {
    try {
      const parsed: unknown = JSON.parse(candidate)
      return Array.isArray(parsed) ? parsed.slice(0, MAX_LIST_ITEMS) : []
    } catch {}
  }
  return []
}

/** `"tag": "Engine "7""` → `"tag": "Engine \"7\""`: a tag value ends at the quote followed by `}` or `,"`. */
function reescapeTags(text: string): string {
  return text.replace(
    /("tag"\s*:\s*")([\s\S]*?)("\s*(?:}|,\s*"))/g,
    (_, open: string, body: string, close: string) =>
      open + body.replace(/\\/g, '\\\\').replace(/"/g, '\\"') + close,
  )
}

function record(value: unknown): Record<string, unknown> {
  return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : {}
}

export function sourcesOf(items: unknown[]): CallSource[] {
  const sources: CallSource[] = []
  for (const item of items) {
    const r = record(item)
    const src = idOf(r.src)
    if (src === undefined) continue
    const tag = typeof r.tag === 'string' ? label(r.tag) : undefined
    sources.push({
      pos: Math.max(0, finite(r.pos) ?? 0),
      src,
      ...(tag ? { tag } : {}),
      ...(r.emergency === true || r.emergency === 1 ? { emergency: true } : {}),
    })
  }
  return sources
}

export function frequenciesOf(items: unknown[]): CallFrequency[] {
  const out: CallFrequency[] = []
  for (const item of items) {
    const r = record(item)
    const freq = finite(r.freq)
    if (freq === undefined || freq <= 0) continue
    const entry: CallFrequency = { freq }
    const pos = finite(r.pos)
    const len = finite(r.len)
    const errorCount = finite(r.errorCount ?? r.error_count)
    const spikeCount = finite(r.spikeCount ?? r.spike_count)
    if (pos !== undefined) entry.pos = pos
    if (len !== undefined) entry.len = len
    if (errorCount !== undefined) entry.errorCount = errorCount
    if (spikeCount !== undefined) entry.spikeCount = spikeCount
    out.push(entry)
  }
  return out
}

export function patchesOf(items: unknown[]): number[] {
  return items.map(idOf).filter((n): n is number => n !== undefined)
}

function require<T>(value: T | undefined, missing: MissingPart): T {
  if (value === undefined) throw new IncompleteCallError(missing)
  return value
}

/** rdio-scanner's form (`/api/call-upload`), as trunk-recorder and SDRTrunk send it. */
export function callFromRdioScannerForm(fields: Fields, now = Date.now()): CallUpload {
  const startedAt = require(parseCallTime(fields.get('timestamp') ?? fields.get('dateTime'), now), 'datetime')
  const system = require(idOf(fields.get('system')), 'system')
  const talkgroup = require(idOf(fields.get('talkgroup')), 'talkgroup')
  const sources = sourcesOf(lenientJsonArray(fields.get('sources')))
  const source = idOf(fields.get('source'))
  if (sources.length === 0 && source !== undefined) sources.push({ pos: 0, src: source })
  return {
    system,
    talkgroup,
    startedAt,
    frequency: finite(fields.get('frequency')),
    frequencies: frequenciesOf(lenientJsonArray(fields.get('frequencies'))),
    patches: patchesOf(lenientJsonArray(fields.get('patches'))),
    sources,
    emergency: sources.some((s) => s.emergency === true),
    systemLabel: label(fields.get('systemLabel')),
    talkgroupLabel: label(fields.get('talkgroupLabel')),
    talkgroupTag: label(fields.get('talkgroupTag')),
    talkgroupGroup: label(fields.get('talkgroupGroup')),
    talkgroupName: label(fields.get('talkgroupName')),
    audioName: label(fields.get('audioName') ?? fields.get('audioFileName')),
    audioType: label(fields.get('audioType') ?? fields.get('audioMime')),
  }
}

/** trunk-recorder's call JSON (`meta` of `/api/trunk-recorder-call-upload`); `system` comes from the form. */
export function callFromTrunkRecorderMeta(
  meta: string | undefined,
  systemField: string | undefined,
  now = Date.now(),
): CallUpload {
  let parsed: Record<string, unknown> = {}
  if (meta !== undefined) {
    try {
      parsed = record(JSON.parse(meta))
    } catch {
      const fixed = reescapeTags(meta)
      try {
        parsed = record(JSON.parse(fixed))
      } catch {}
    }
  }
  const startedAt = require(parseCallTime(String(parsed.start_time ?? '') || undefined, now), 'datetime')
  const system = require(idOf(systemField), 'system')
  const talkgroup = require(idOf(parsed.talkgroup), 'talkgroup')
  const sources = sourcesOf(Array.isArray(parsed.srcList) ? parsed.srcList.slice(0, MAX_LIST_ITEMS) : [])
  const text = (key: string) => (typeof parsed[key] === 'string' ? label(parsed[key] as string) : undefined)
  const stop = finite(parsed.stop_time)
  const start = finite(parsed.start_time)
  return {
    system,
    talkgroup,
    startedAt,
    reportedLength:
      finite(parsed.call_length) ?? (stop !== undefined && start !== undefined ? stop - start : undefined),
    frequency: finite(parsed.freq),
    frequencies: frequenciesOf(
      Array.isArray(parsed.freqList) ? parsed.freqList.slice(0, MAX_LIST_ITEMS) : [],
    ),
    patches: patchesOf(
      Array.isArray(parsed.patched_talkgroups) ? parsed.patched_talkgroups.slice(0, MAX_LIST_ITEMS) : [],
    ),
    sources,
    emergency:
      parsed.emergency === 1 || parsed.emergency === true || sources.some((s) => s.emergency === true),
    systemLabel: text('short_name'),
    talkgroupLabel: text('talkgroup_tag'),
    talkgroupTag: text('talkgroup_group_tag'),
    talkgroupGroup: text('talkgroup_group'),
    talkgroupName: text('talkgroup_description'),
  }
}

/** OpenMHz's upload form; the system is the one its short name maps to. */
export function callFromOpenMhzForm(fields: Fields, system: number, now = Date.now()): CallUpload {
  const startedAt = require(parseCallTime(fields.get('start_time'), now), 'datetime')
  const talkgroup = require(idOf(fields.get('talkgroup_num')), 'talkgroup')
  const sources = sourcesOf(lenientJsonArray(fields.get('source_list')))
  const start = finite(fields.get('start_time'))
  const stop = finite(fields.get('stop_time'))
  return {
    system,
    talkgroup,
    startedAt,
    reportedLength:
      finite(fields.get('call_length')) ??
      (stop !== undefined && start !== undefined ? stop - start : undefined),
    frequency: finite(fields.get('freq')),
    frequencies: [],
    patches: patchesOf(lenientJsonArray(fields.get('patch_list'))),
    sources,
    emergency: fields.get('emergency') === '1' || fields.get('emergency') === 'true',
  }
}
