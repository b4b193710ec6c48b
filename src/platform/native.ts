/**
 * Typed face of the Rust addon in native/ (Ogg Opus demux/mux, Opus packet checks, chunk rings, call audio to Opus voice).
 * The addon is built by `bun install` (postinstall) or `bun run build:native`. Every error it raises
 * is a `NativeError` with a stable `code`, so callers branch on the code, never on the message.
 */
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'

export const NATIVE_ERROR_CODES = [
  'CRC_MISMATCH',
  'INVALID_PAGE',
  'PAGE_SEQUENCE_GAP',
  'TRUNCATED',
  'INVALID_TOC',
  'FRAME_TOO_LONG',
  'INVALID_FRAME_LENGTHS',
  'INVALID_FRAME_COUNT',
  'DURATION_TOO_LONG',
  'INVALID_PADDING',
  'INVALID_OPUS_HEAD',
  'INVALID_OPUS_TAGS',
  'UNSUPPORTED_VERSION',
  'PACKET_TOO_LARGE',
  'CHUNK_TOO_LARGE',
  'INVALID_ARGUMENT',
  'INVALID_STATE',
  'INTERNAL',
] as const

export type NativeErrorCode = (typeof NATIVE_ERROR_CODES)[number]

export class NativeError extends Error {
  constructor(
    readonly code: NativeErrorCode,
    message: string,
    /** For stream problems: byte offset from the start of everything pushed into the demuxer. */
    readonly offset?: number,
  ) {
    super(message)
    this.name = 'NativeError'
  }
}

/** Opus audio is timed in samples at 48 kHz whatever the input rate (RFC 7845 §4). */
export const OPUS_SAMPLE_RATE = 48_000

export interface OggPacket {
  /** A view of the pushed chunk (or of a small side buffer for packets reassembled across pages). */
  data: Uint8Array
  /** Granule position of the page on which the packet completes; -1 when no packet completes there. */
  granulePosition: number
  serial: number
  pageSequence: number
  bos: boolean
  eos: boolean
}

export interface DemuxResult {
  packets: OggPacket[]
  /** Damage found and skipped (CRC_MISMATCH, INVALID_PAGE, …); demuxing carries on past it. */
  errors: NativeError[]
}

interface RawPacketBatch {
  count: number
  /** Per packet: start, end, page index, duration (see PACKET_FIELDS). */
  packets: Uint32Array
  /** Per page: granule position, serial, sequence, flags (see PAGE_FIELDS). */
  pages: Float64Array
  spill: Uint8Array
  totalDurationSamples: number
  issues: RawIssue[]
}

const PACKET_FIELDS = 4
const PACKET_START = 0
const PACKET_END = 1
const PACKET_PAGE = 2
const PACKET_DURATION = 3
const PAGE_FIELDS = 4
const PAGE_GRANULE = 0
const PAGE_SERIAL = 1
const PAGE_SEQUENCE = 2
const PAGE_FLAGS = 3
const PAGE_FLAG_BOS = 1
const PAGE_FLAG_EOS = 2

/**
 * The packets of one push, kept in the addon's packed arrays so that many packets cost no objects.
 * Packet bytes are views of the pushed chunk where possible, so the chunk must not be modified while
 * they are in use.
 */
export class PacketBatch {
  readonly count: number
  /** Sum of the 48 kHz durations of the valid Opus audio packets. */
  readonly totalDurationSamples: number
  readonly errors: NativeError[]
  readonly #chunk: Uint8Array
  readonly #raw: RawPacketBatch

  constructor(chunk: Uint8Array, raw: RawPacketBatch) {
    this.#chunk = chunk
    this.#raw = raw
    this.count = raw.count
    this.totalDurationSamples = raw.totalDurationSamples
    this.errors = raw.issues.length === 0 ? [] : toErrors(raw.issues)
  }

  #packetField(index: number, field: number): number {
    return this.#raw.packets[index * PACKET_FIELDS + field] ?? 0
  }

  #pageField(index: number, field: number): number {
    const page = this.#packetField(index, PACKET_PAGE)
    return this.#raw.pages[page * PAGE_FIELDS + field] ?? 0
  }

  /** Bytes of packet `index`. */
  data(index: number): Uint8Array {
    const start = this.#packetField(index, PACKET_START)
    const end = this.#packetField(index, PACKET_END)
    const chunkLength = this.#chunk.length
    return start < chunkLength || end === start
      ? this.#chunk.subarray(start, end)
      : this.#raw.spill.subarray(start - chunkLength, end - chunkLength)
  }

  /** 48 kHz duration of packet `index` if it is a valid Opus packet; 0 for headers and anything else. */
  durationSamples(index: number): number {
    return this.#packetField(index, PACKET_DURATION)
  }

  /** Packet `index` with its page's fields, as one object. */
  packet(index: number): OggPacket {
    const flags = this.#pageField(index, PAGE_FLAGS)
    return {
      data: this.data(index),
      granulePosition: this.#pageField(index, PAGE_GRANULE),
      serial: this.#pageField(index, PAGE_SERIAL),
      pageSequence: this.#pageField(index, PAGE_SEQUENCE),
      bos: (flags & PAGE_FLAG_BOS) !== 0,
      eos: (flags & PAGE_FLAG_EOS) !== 0,
    }
  }
}

export interface OggMuxerOptions {
  /** Logical stream serial; random when omitted. */
  serial?: number
  /** 1 or 2 (default 1). */
  channels?: number
  /** Samples at 48 kHz to drop at decode start; copy it from the encoder or the source OpusHead. */
  preSkip?: number
  inputSampleRate?: number
  /** Q7.8 dB. */
  outputGain?: number
  vendor?: string
  /** `KEY=value` strings. */
  comments?: string[]
  /** Audio bytes per page before a new page starts (default 4096). */
  maxPageBytes?: number
  /** Samples at 48 kHz per page before a new page starts (default 48000, one second). */
  maxPageDurationSamples?: number
}

export interface RingEntry {
  sequence: number
  /** Whatever clock the pusher used, typically epoch milliseconds. */
  timestamp: number
  /** A copy made at read time, shared by the entries of one read; the ring may reuse its own space. */
  data: Uint8Array
}

export type OpusMode = 'SILK' | 'Hybrid' | 'CELT'
export type OpusBandwidth = 'NB' | 'MB' | 'WB' | 'SWB' | 'FB'

export interface OpusPacketInfo {
  config: number
  mode: OpusMode
  bandwidth: OpusBandwidth
  stereo: boolean
  /** Frame packing code 0–3 from the TOC byte. */
  frameCountCode: number
  frameCount: number
  /** Samples per frame at 48 kHz (120 = 2.5 ms … 2880 = 60 ms). */
  frameSamples: number
  frameLengths: number[]
  vbr: boolean
  paddingBytes: number
  durationSamples: number
}

export type PacketValidation =
  | { valid: true; durationSamples: number }
  | { valid: false; code: NativeErrorCode; message: string }

export type ChunkKind = 'opus-packet' | 'ogg-opus' | 'neither'

export interface ChunkClassification {
  kind: ChunkKind
  /** Why a chunk is 'neither'; absent when it was accepted. */
  code?: NativeErrorCode
  reason: string
  /** Audio in the chunk at 48 kHz, headers excluded. */
  durationSamples: number
}

export interface OpusHead {
  version: number
  channelCount: number
  preSkip: number
  inputSampleRate: number
  /** Q7.8 dB. */
  outputGain: number
  mappingFamily: number
  streamCount: number
  coupledCount: number
  channelMapping: number[]
}

export interface OpusTags {
  vendor: string
  comments: string[]
}

interface RawIssue {
  code: NativeErrorCode
  message: string
  offset: number
}

interface RawOggDemuxer {
  pushBatch(chunk: Uint8Array): RawPacketBatch
  finish(): RawIssue[]
  readonly bufferedBytes: number
}

interface RawOggMuxer {
  takePages(): Uint8Array
  writePacket(packet: Uint8Array): Uint8Array
  flush(): Uint8Array
  finish(): Uint8Array
  readonly granulePosition: number
}

/** Opaque: only the addon can read it. */
declare const pushHandleBrand: unique symbol
type PushHandle = { readonly [pushHandleBrand]: true }

/** Per entry in `entries`: sequence, timestamp, start, end (entry bytes are `data[start, end)`). */
interface RawRingEntries {
  count: number
  entries: Float64Array
  data: Uint8Array
}

const ENTRY_FIELDS = 4

function unpackEntries({ count, entries, data }: RawRingEntries): RingEntry[] {
  const unpacked: RingEntry[] = new Array(count)
  for (let i = 0, at = 0; i < count; i++, at += ENTRY_FIELDS) {
    unpacked[i] = {
      sequence: entries[at] ?? 0,
      timestamp: entries[at + 1] ?? 0,
      data: data.subarray(entries[at + 2], entries[at + 3]),
    }
  }
  return unpacked
}

interface RawChunkRing {
  pushHandle(): PushHandle
  readAfter(sequence: number, limit?: number): RawRingEntries
  latest(count: number): RawRingEntries
  readonly length: number
  readonly totalBytes: number
  readonly capacity: number
  readonly maxBytes: number
  readonly oldestSequence: number | null
  readonly newestSequence: number | null
  readonly nextSequence: number
}

interface NativeBinding {
  nativeVersion(): string
  OggDemuxer: new (maxPacketBytes?: number) => RawOggDemuxer
  OggMuxer: new (options?: OggMuxerOptions) => RawOggMuxer
  ChunkRing: new (capacity: number, maxBytes: number, firstSequence?: number) => RawChunkRing
  chunkRingPush(handle: PushHandle, data: Uint8Array, timestamp: number): number
  inspectOpusPacket(packet: Uint8Array): OpusPacketInfo
  validateOpusPacket(packet: Uint8Array): {
    valid: boolean
    code?: NativeErrorCode
    message?: string
    durationSamples: number
  }
  classifyChunk(chunk: Uint8Array): ChunkClassification
  parseOpusHead(packet: Uint8Array): OpusHead
  parseOpusTags(packet: Uint8Array): OpusTags
  transcodeVoicePackets(input: Uint8Array, options: VoiceTranscodeOptions): RawVoiceTranscode
}

interface RawVoiceTranscode {
  data?: Uint8Array
  ends?: number[]
  inputRate?: number
  codec?: string
  decodedFrames?: number
  refusal?: string
  message?: string
}

export const NATIVE_ADDON_PATH = fileURLToPath(new URL('../../native/airwave-native.node', import.meta.url))

let binding: NativeBinding | undefined
let loadError: Error | undefined

function loadBinding(): NativeBinding {
  if (binding) return binding
  if (loadError) throw loadError
  try {
    binding = createRequire(import.meta.url)(NATIVE_ADDON_PATH) as NativeBinding
    return binding
  } catch (cause) {
    loadError = new Error(
      `The native addon could not be loaded from ${NATIVE_ADDON_PATH}; run \`bun run build:native\` to build it`,
      { cause },
    )
    throw loadError
  }
}

const nativeCodes: ReadonlySet<string> = new Set(NATIVE_ERROR_CODES)

/** Gives every error out of the addon our shape; napi's own argument checks use other codes. */
function toNativeError(error: unknown): unknown {
  if (error instanceof NativeError || !(error instanceof Error)) return error
  const raw = (error as Error & { code?: unknown }).code
  if (typeof raw !== 'string') return error
  const code: NativeErrorCode = nativeCodes.has(raw)
    ? (raw as NativeErrorCode)
    : raw === 'InvalidArg' || raw === 'NumberExpected' || raw === 'StringExpected' || raw === 'ObjectExpected'
      ? 'INVALID_ARGUMENT'
      : 'INTERNAL'
  return new NativeError(code, error.message)
}

function call<T>(body: () => T): T {
  try {
    return body()
  } catch (error) {
    throw toNativeError(error)
  }
}

function toErrors(issues: RawIssue[]): NativeError[] {
  return issues.map((issue) => new NativeError(issue.code, issue.message, issue.offset))
}

/** True when the addon is built and loads; for health checks, which must not throw. */
export function isNativeLoaded(): boolean {
  try {
    loadBinding()
    return true
  } catch {
    return false
  }
}

export function nativeVersion(): string {
  return loadBinding().nativeVersion()
}

/**
 * Streaming Ogg demuxer (RFC 3533). Push bytes in any split; each call returns the packets it
 * completed. CRC is always verified; damaged pages are reported in `errors` and skipped, and demuxing
 * resumes at the next page.
 */
export class OggDemuxer {
  readonly #raw: RawOggDemuxer

  constructor(options: { maxPacketBytes?: number } = {}) {
    const { OggDemuxer: Raw } = loadBinding()
    this.#raw = call(() => new Raw(options.maxPacketBytes))
  }

  /**
   * Packets completed by `chunk`. Their `data` are views of `chunk` where possible (no copy), so do not
   * overwrite `chunk` (e.g. a reused read buffer) while using them; `slice()` what must outlive it.
   */
  push(chunk: Uint8Array): DemuxResult {
    const batch = this.pushBatch(chunk)
    // Building the objects here is several times cheaper than creating them through N-API.
    const packets: OggPacket[] = new Array(batch.count)
    for (let i = 0; i < batch.count; i++) packets[i] = batch.packet(i)
    return { packets, errors: batch.errors }
  }

  /** Like `push`, with the packets in flat arrays: the fast path for whole files. */
  pushBatch(chunk: Uint8Array): PacketBatch {
    return new PacketBatch(
      chunk,
      call(() => this.#raw.pushBatch(chunk)),
    )
  }

  /** Declares the end of input; a cut-off page or packet is reported as TRUNCATED. */
  finish(): NativeError[] {
    return toErrors(call(() => this.#raw.finish()))
  }

  /** Bytes held back waiting for the rest of a page. */
  get bufferedBytes(): number {
    return this.#raw.bufferedBytes
  }
}

/**
 * Ogg Opus writer (RFC 7845). The header pages come from the first `takePages()`; every other call
 * returns the pages it completed, so concatenating all returned bytes gives a valid file.
 */
export class OggMuxer {
  readonly #raw: RawOggMuxer

  constructor(options: OggMuxerOptions = {}) {
    const { OggMuxer: Raw } = loadBinding()
    this.#raw = call(() => new Raw(options))
  }

  takePages(): Uint8Array {
    return this.#raw.takePages()
  }

  /** Validates the packet (RFC 6716 R1–R7), then adds it; its duration advances the granule position. */
  writePacket(packet: Uint8Array): Uint8Array {
    return call(() => this.#raw.writePacket(packet))
  }

  /** Closes the open page now so a live reader gets its audio without waiting for a full page. */
  flush(): Uint8Array {
    return call(() => this.#raw.flush())
  }

  /** Writes the last page, flagged end-of-stream. */
  finish(): Uint8Array {
    return call(() => this.#raw.finish())
  }

  /** Samples at 48 kHz written so far, pre-skip included. */
  get granulePosition(): number {
    return this.#raw.granulePosition
  }
}

/**
 * Fixed-capacity ring of live chunks. Pushing evicts the oldest chunks beyond `capacity` entries or
 * `maxBytes` bytes; memory stays within both. Sequences are assigned by the ring and never reused.
 */
export class ChunkRing {
  readonly #raw: RawChunkRing
  readonly #pushHandle: PushHandle
  readonly #push: NativeBinding['chunkRingPush']

  constructor(options: { capacity: number; maxBytes: number; firstSequence?: number }) {
    const binding = loadBinding()
    this.#raw = call(() => new binding.ChunkRing(options.capacity, options.maxBytes, options.firstSequence))
    this.#pushHandle = this.#raw.pushHandle()
    this.#push = binding.chunkRingPush
  }

  /** Copies `data` into the ring and returns its sequence number. */
  push(data: Uint8Array, timestamp: number): number {
    // Inline try rather than `call()`: this runs millions of times a second and every closure counts.
    try {
      return this.#push(this.#pushHandle, data, timestamp)
    } catch (error) {
      throw toNativeError(error)
    }
  }

  /**
   * Entries with a sequence above `sequence`, oldest first (SSE resume from Last-Event-ID). A client
   * further behind than `oldestSequence` gets everything still held; one at or past `newestSequence`
   * (say, from before a restart) gets nothing, so compare against both to detect either gap.
   */
  readAfter(sequence: number, limit?: number): RingEntry[] {
    return unpackEntries(call(() => this.#raw.readAfter(sequence, limit)))
  }

  /** The newest `count` entries, oldest first. */
  latest(count: number): RingEntry[] {
    return unpackEntries(call(() => this.#raw.latest(count)))
  }

  get length(): number {
    return this.#raw.length
  }

  get totalBytes(): number {
    return this.#raw.totalBytes
  }

  get capacity(): number {
    return this.#raw.capacity
  }

  get maxBytes(): number {
    return this.#raw.maxBytes
  }

  get oldestSequence(): number | null {
    return this.#raw.oldestSequence
  }

  get newestSequence(): number | null {
    return this.#raw.newestSequence
  }

  get nextSequence(): number {
    return this.#raw.nextSequence
  }
}

/** Parses and validates an Opus packet (RFC 6716 §3); throws a NativeError naming the broken rule. */
export function inspectOpusPacket(packet: Uint8Array): OpusPacketInfo {
  return call(() => loadBinding().inspectOpusPacket(packet))
}

/** Checks an Opus packet against RFC 6716 R1–R7 without throwing. */
export function validateOpusPacket(packet: Uint8Array): PacketValidation {
  const result = call(() => loadBinding().validateOpusPacket(packet))
  if (result.valid) return { valid: true, durationSamples: result.durationSamples }
  return { valid: false, code: result.code ?? 'INTERNAL', message: result.message ?? '' }
}

/** Decides whether ingest should accept a chunk: raw Opus packet, Ogg Opus, or neither (with why). */
export function classifyChunk(chunk: Uint8Array): ChunkClassification {
  return call(() => loadBinding().classifyChunk(chunk))
}

export function parseOpusHead(packet: Uint8Array): OpusHead {
  return call(() => loadBinding().parseOpusHead(packet))
}

export function parseOpusTags(packet: Uint8Array): OpusTags {
  return call(() => loadBinding().parseOpusTags(packet))
}

export interface VoiceTranscodeOptions {
  /** Target bit rate, bit/s. */
  bitrate: number
  /** libopus complexity 0–10. */
  complexity: number
  /** Audio past this is dropped. */
  maxSeconds: number
  /** Encoding stops once the packets reach this many bytes. */
  maxOutputBytes: number
}

/** Why the addon left a file to FFmpeg: a format, codec or rate it does not handle, or bytes that did not decode. */
export type VoiceRefusal = 'UNSUPPORTED_AUDIO' | 'UNDECODABLE_AUDIO' | 'INTERNAL'

export type VoiceTranscode =
  | {
      ok: true
      /** Mono Opus voice packets, 100 ms each, end to end: packet `i` ends at `ends[i]` (see `voicePackets`). */
      data: Uint8Array
      ends: number[]
      /** The decoded audio's rate (libopus takes 8, 12, 16, 24 and 48 kHz as they are; others are resampled to 16). */
      inputRate: number
      codec: 'aac' | 'mp3' | 'pcm'
      /** Seconds of audio decoded, after the cut at `maxSeconds`. */
      decodedSeconds: number
    }
  | { ok: false; refusal: VoiceRefusal; message: string }

/**
 * A whole call file (WAV PCM, MP3, AAC-LC in MP4 or ADTS; any sample rate) decoded and encoded to Opus voice by the
 * addon, synchronously: it takes tens of milliseconds per 10 s of audio, so only a worker thread may call it
 * (`src/platform/voice-workers.ts`). Anything else, or anything that does not decode cleanly, is a refusal for the
 * caller to hand to FFmpeg; it never throws for bad input.
 */
export function transcodeVoicePacketsSync(input: Uint8Array, options: VoiceTranscodeOptions): VoiceTranscode {
  const raw = call(() => loadBinding().transcodeVoicePackets(input, options))
  if (raw.refusal !== undefined || !raw.data || !raw.ends) {
    const refusal = (raw.refusal ?? 'INTERNAL') as VoiceRefusal
    return { ok: false, refusal, message: raw.message ?? 'no packets' }
  }
  return {
    ok: true,
    data: raw.data,
    ends: raw.ends,
    inputRate: raw.inputRate ?? 0,
    codec: raw.codec as 'aac' | 'mp3' | 'pcm',
    decodedSeconds: (raw.decodedFrames ?? 0) / Math.max(1, raw.inputRate ?? 1),
  }
}

/** The packets of a successful transcode, as views into its one buffer. */
export function voicePackets({ data, ends }: { data: Uint8Array; ends: number[] }): Uint8Array[] {
  return ends.map((end, i) => data.subarray(i === 0 ? 0 : ends[i - 1], end))
}
