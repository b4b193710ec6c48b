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

const EBML_MAGIC = [0x1a, 0x45, 0xdf, 0xa3]

/** True when `bytes` begins with the EBML magic, i.e. the chunk starts a new WebM stream. */
export function startsWithEbmlHeader(bytes: Uint8Array): boolean {
  return bytes[0] === 0x1a && bytes[1] === 0x45 && bytes[2] === 0xdf && bytes[3] === 0xa3
}

/** True when `bytes` is shorter than the EBML magic and could be its start: whether it is, the next chunk tells. */
export function mayStartEbmlHeader(bytes: Uint8Array): boolean {
  return bytes.length < 4 && bytes.every((b, i) => b === EBML_MAGIC[i])
}

/**
 * `incomplete` failures may still become a header when more bytes arrive: MediaRecorder with short
 * timeslices can split the header across chunks (Chromium's first 100 ms chunk is sometimes one byte).
 */
export type InitSegmentResult =
  | { ok: true; init: Uint8Array }
  | { ok: false; reason: string; incomplete: boolean }

/** True when the varint at `offset` runs past the end of `bytes`, so more bytes may complete it. */
function runsPastEnd(bytes: Uint8Array, offset: number): boolean {
  const first = bytes[offset]
  if (first === undefined) return true
  return first !== 0 && offset + Math.clz32(first) - 23 > bytes.length
}

/**
 * Finds the initialization segment at the start of a WebM chunk. The chunk must start with the EBML header
 * (DocType `webm` or `matroska`), then a Segment whose children up to the first Cluster include Tracks.
 */
export function readInitSegment(chunk: Uint8Array): InitSegmentResult {
  const fail = (reason: string, incomplete = false): InitSegmentResult => ({ ok: false, reason, incomplete })
  if (!startsWithEbmlHeader(chunk)) return fail('the first chunk must start with a WebM (EBML) header')
  const headerSize = readElementSize(chunk, 4)
  if (!headerSize || headerSize.unknown) return fail('the EBML header is truncated', runsPastEnd(chunk, 4))
  const headerEnd = 4 + headerSize.length + headerSize.value
  if (headerEnd > chunk.length) return fail('the EBML header is truncated', true)
  const docType = readDocType(chunk, 4 + headerSize.length, headerEnd)
  if (docType !== 'webm' && docType !== 'matroska') {
    return fail(`the EBML DocType is ${docType === undefined ? 'missing' : `"${docType}"`}, expected webm`)
  }
  const segmentId = readElementId(chunk, headerEnd)
  if (segmentId?.value !== SEGMENT_ID) {
    return fail('no Segment follows the EBML header', !segmentId && runsPastEnd(chunk, headerEnd))
  }
  const segmentSize = readElementSize(chunk, headerEnd + segmentId.length)
  if (!segmentSize)
    return fail('the Segment header is truncated', runsPastEnd(chunk, headerEnd + segmentId.length))

  let offset = headerEnd + segmentId.length + segmentSize.length
  let sawTracks = false
  let sawCluster = false
  while (offset < chunk.length) {
    if (offset > MAX_INIT_SEGMENT_BYTES)
      return fail(`the WebM header is over ${MAX_INIT_SEGMENT_BYTES} bytes`)
    const id = readElementId(chunk, offset)
    const size = id && readElementSize(chunk, offset + id.length)
    if (!id || !size) {
      const cut = id ? runsPastEnd(chunk, offset + id.length) : runsPastEnd(chunk, offset)
      return fail('a WebM header element is truncated', cut)
    }
    if (id.value === CLUSTER_ID) {
      sawCluster = true
      break
    }
    if (size.unknown) return fail('a WebM header element has an unknown size')
    if (id.value === TRACKS_ID) sawTracks = true
    offset += id.length + size.length + size.value
  }
  if (offset > chunk.length)
    return fail('the WebM header is cut off: send Tracks whole in the first chunk', true)
  if (!sawTracks) return fail('the first chunk has no Tracks element', !sawCluster)
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
