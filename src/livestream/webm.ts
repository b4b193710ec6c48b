/**
 * Just enough EBML to find a WebM stream's initialization segment: the EBML header plus the Segment's
 * children up to the first Cluster (Info, Tracks, …). MediaRecorder sends it only in its first chunk, and
 * FFmpeg needs it again whenever it is restarted mid-stream.
 */

export const EBML_ID = 0x1a45dfa3
export const SEGMENT_ID = 0x18538067
export const CLUSTER_ID = 0x1f43b675
export const TRACKS_ID = 0x1654ae6b
const DOCTYPE_ID = 0x4282

/** A header bigger than this is not what a browser sends; refuse rather than scan without bound. */
export const MAX_INIT_SEGMENT_BYTES = 256 * 1024

export interface EbmlVarint {
  value: number
  length: number
  /** All value bits set: the "unknown size" a live muxer writes for Segment and Cluster. */
  unknown: boolean
}

/** Reads an EBML element ID (marker bit kept, 1–4 bytes) or undefined when `bytes` ends first or it is invalid. */
export function readElementId(bytes: Uint8Array, offset: number): EbmlVarint | undefined {
  const first = bytes[offset]
  if (first === undefined || first === 0) return undefined
  const length = Math.clz32(first) - 23
  if (length > 4 || offset + length > bytes.length) return undefined
  let value = 0
  for (let i = 0; i < length; i++) value = value * 256 + (bytes[offset + i] as number)
  return { value, length, unknown: false }
}

/** Reads an EBML data size (marker bit removed, 1–8 bytes) or undefined when `bytes` ends first or it is invalid. */
export function readElementSize(bytes: Uint8Array, offset: number): EbmlVarint | undefined {
  const first = bytes[offset]
  if (first === undefined || first === 0) return undefined
  const length = Math.clz32(first) - 23
  if (offset + length > bytes.length) return undefined
  let value = first & (0xff >> length)
  let allOnes = value === 0xff >> length
  for (let i = 1; i < length; i++) {
    const byte = bytes[offset + i] as number
    value = value * 256 + byte
    if (byte !== 0xff) allOnes = false
  }
  return { value, length, unknown: allOnes }
}

/** True when `bytes` begins with the EBML magic, i.e. the chunk starts a new WebM stream. */
export function startsWithEbmlHeader(bytes: Uint8Array): boolean {
  return bytes[0] === 0x1a && bytes[1] === 0x45 && bytes[2] === 0xdf && bytes[3] === 0xa3
}

export type InitSegmentResult = { ok: true; init: Uint8Array } | { ok: false; reason: string }

/**
 * Finds the initialization segment at the start of a WebM chunk. The chunk must start with the EBML header
 * (DocType `webm` or `matroska`), then a Segment whose children up to the first Cluster include Tracks.
 */
export function readInitSegment(chunk: Uint8Array): InitSegmentResult {
  const fail = (reason: string): InitSegmentResult => ({ ok: false, reason })
  if (!startsWithEbmlHeader(chunk)) return fail('the first chunk must start with a WebM (EBML) header')
  const headerSize = readElementSize(chunk, 4)
  if (!headerSize || headerSize.unknown) return fail('the EBML header is truncated')
  const headerEnd = 4 + headerSize.length + headerSize.value
  if (headerEnd > chunk.length) return fail('the EBML header is truncated')
  const docType = readDocType(chunk, 4 + headerSize.length, headerEnd)
  if (docType !== 'webm' && docType !== 'matroska') {
    return fail(`the EBML DocType is ${docType === undefined ? 'missing' : `"${docType}"`}, expected webm`)
  }
  const segmentId = readElementId(chunk, headerEnd)
  if (segmentId?.value !== SEGMENT_ID) return fail('no Segment follows the EBML header')
  const segmentSize = readElementSize(chunk, headerEnd + segmentId.length)
  if (!segmentSize) return fail('the Segment header is truncated')

  let offset = headerEnd + segmentId.length + segmentSize.length
  let sawTracks = false
  while (offset < chunk.length) {
    if (offset > MAX_INIT_SEGMENT_BYTES)
      return fail(`the WebM header is over ${MAX_INIT_SEGMENT_BYTES} bytes`)
    const id = readElementId(chunk, offset)
    const size = id && readElementSize(chunk, offset + id.length)
    if (!id || !size) return fail('a WebM header element is truncated')
    if (id.value === CLUSTER_ID) break
    if (size.unknown) return fail('a WebM header element has an unknown size')
    if (id.value === TRACKS_ID) sawTracks = true
    offset += id.length + size.length + size.value
  }
  if (offset > chunk.length) return fail('the WebM header is cut off: send Tracks whole in the first chunk')
  if (!sawTracks) return fail('the first chunk has no Tracks element')
  return { ok: true, init: chunk.slice(0, offset) }
}

function readDocType(bytes: Uint8Array, start: number, end: number): string | undefined {
  let offset = start
  while (offset < end) {
    const id = readElementId(bytes, offset)
    const size = id && readElementSize(bytes, offset + id.length)
    if (!id || !size || size.unknown) return undefined
    const dataStart = offset + id.length + size.length
    if (id.value === DOCTYPE_ID) {
      return new TextDecoder().decode(bytes.subarray(dataStart, Math.min(end, dataStart + size.value)))
    }
    offset = dataStart + size.value
  }
  return undefined
}
