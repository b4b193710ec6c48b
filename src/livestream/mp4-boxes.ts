/**
 * Just enough ISO BMFF (MP4) to package FFmpeg's fragmented MP4 into LL-HLS: top-level boxes cut from a
 * byte stream as they complete, the tracks of an init segment (moov), and the timing and keyframe flag
 * of each fragment (moof). Pure functions over bytes; nothing here knows about HLS or streams.
 */

/** A top-level box bigger than this is not a 200 ms fragment of a live stream: refuse rather than buffer it. */
export const MAX_BOX_BYTES = 16 * 1024 * 1024

/** Bytes that are not the fragmented MP4 expected; the packager drops the run's output when it sees one. */
export class Mp4FormatError extends Error {
  override name = 'Mp4FormatError'
}

/** One complete top-level box: its four-character type and all its bytes, header included. */
export interface Mp4Box {
  type: string
  bytes: Uint8Array
}

const fourCc = (bytes: Uint8Array, offset: number) =>
  String.fromCharCode(
    bytes[offset] as number,
    bytes[offset + 1] as number,
    bytes[offset + 2] as number,
    bytes[offset + 3] as number,
  )

/**
 * Cuts a byte stream into top-level boxes. Bytes arrive in pipe-sized chunks that split boxes anywhere;
 * `push` returns each box once its last byte has arrived and keeps the rest (at most one box) pending.
 */
export class Mp4BoxSplitter {
  private pending: Uint8Array[] = []
  private pendingBytes = 0
  /** Size of the box being collected, once its header is known. */
  private need = 0

  push(chunk: Uint8Array): Mp4Box[] {
    if (chunk.byteLength === 0) return []
    this.pending.push(chunk)
    this.pendingBytes += chunk.byteLength
    const boxes: Mp4Box[] = []
    for (;;) {
      if (this.need === 0) {
        if (this.pendingBytes < 16 && !this.headerFits()) break
        this.need = this.boxSize()
      }
      if (this.pendingBytes < this.need) break
      const bytes = this.take(this.need)
      this.need = 0
      boxes.push({ type: fourCc(bytes, 4), bytes })
    }
    return boxes
  }

  /** Bytes held for a box that has not completed yet. */
  get buffered(): number {
    return this.pendingBytes
  }

  /** A 32-bit header needs 8 bytes; a 64-bit one (size 1) needs 16. */
  private headerFits(): boolean {
    if (this.pendingBytes < 8) return false
    const head = this.peek(8)
    const size = new DataView(head.buffer, head.byteOffset, 8).getUint32(0)
    return size !== 1
  }

  private boxSize(): number {
    const head = this.peek(Math.min(16, this.pendingBytes))
    const view = new DataView(head.buffer, head.byteOffset, head.byteLength)
    let size = view.getUint32(0)
    if (size === 1) size = Number(view.getBigUint64(8))
    const type = fourCc(head, 4)
    if (size === 0) throw new Mp4FormatError(`box "${type}" runs to the end of the stream`)
    if (size < 8) throw new Mp4FormatError(`box "${type}" has an impossible size ${size}`)
    if (size > MAX_BOX_BYTES)
      throw new Mp4FormatError(`box "${type}" is ${size} bytes, over ${MAX_BOX_BYTES}`)
    return size
  }

  private peek(n: number): Uint8Array {
    const first = this.pending[0] as Uint8Array
    if (first.byteLength >= n) return first.subarray(0, n)
    return this.join().subarray(0, n)
  }

  /** Collapses the pending chunks into one (only while a header straddles chunks, or a box completes). */
  private join(): Uint8Array {
    if (this.pending.length > 1) this.pending = [Buffer.concat(this.pending)]
    return this.pending[0] as Uint8Array
  }

  private take(n: number): Uint8Array {
    const all = this.join()
    const box = all.slice(0, n)
    const rest = all.subarray(n)
    this.pending = rest.byteLength > 0 ? [rest] : []
    this.pendingBytes = rest.byteLength
    return box
  }
}

/** Children of a box's payload, from `start` (after the header and any full-box fields) to the box's end. */
function* children(
  bytes: Uint8Array,
  start: number,
  end: number,
): Generator<{ type: string; start: number; end: number }> {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  let offset = start
  while (offset + 8 <= end) {
    let size = view.getUint32(offset)
    let header = 8
    if (size === 1) {
      if (offset + 16 > end) throw new Mp4FormatError('a 64-bit box header is cut off')
      size = Number(view.getBigUint64(offset + 8))
      header = 16
    } else if (size === 0) size = end - offset
    if (size < header || offset + size > end)
      throw new Mp4FormatError(`box "${fourCc(bytes, offset + 4)}" overruns its parent`)
    yield { type: fourCc(bytes, offset + 4), start: offset + header, end: offset + size }
    offset += size
  }
}

function child(bytes: Uint8Array, start: number, end: number, type: string) {
  for (const box of children(bytes, start, end)) if (box.type === type) return box
  return undefined
}

/** What an init segment says about one track, with the fragment defaults of its `trex`. */
export interface Mp4Track {
  id: number
  /** Ticks per second of the track's media time. */
  timescale: number
  kind: 'video' | 'audio' | 'other'
  defaultSampleDuration: number
  defaultSampleFlags: number
}

/** The tracks of an init segment's `moov` box (the whole box, header included). */
export function readInitTracks(moov: Uint8Array): Mp4Track[] {
  if (fourCc(moov, 4) !== 'moov') throw new Mp4FormatError(`expected moov, got "${fourCc(moov, 4)}"`)
  const view = new DataView(moov.buffer, moov.byteOffset, moov.byteLength)
  const tracks = new Map<number, Mp4Track>()
  for (const trak of children(moov, 8, moov.byteLength)) {
    if (trak.type !== 'trak') continue
    const tkhd = child(moov, trak.start, trak.end, 'tkhd')
    const mdia = child(moov, trak.start, trak.end, 'mdia')
    const mdhd = mdia && child(moov, mdia.start, mdia.end, 'mdhd')
    const hdlr = mdia && child(moov, mdia.start, mdia.end, 'hdlr')
    if (!tkhd || !mdhd || !hdlr) throw new Mp4FormatError('a trak lacks tkhd, mdhd or hdlr')
    // Version 1 boxes carry 64-bit times before the fields read here.
    const id = view.getUint32(tkhd.start + (moov[tkhd.start] === 1 ? 20 : 12))
    const timescale = view.getUint32(mdhd.start + (moov[mdhd.start] === 1 ? 20 : 12))
    const handler = fourCc(moov, hdlr.start + 8)
    if (timescale === 0) throw new Mp4FormatError(`track ${id} has timescale 0`)
    tracks.set(id, {
      id,
      timescale,
      kind: handler === 'vide' ? 'video' : handler === 'soun' ? 'audio' : 'other',
      defaultSampleDuration: 0,
      defaultSampleFlags: 0,
    })
  }
  const mvex = child(moov, 8, moov.byteLength, 'mvex')
  for (const trex of mvex ? children(moov, mvex.start, mvex.end) : []) {
    if (trex.type !== 'trex') continue
    const track = tracks.get(view.getUint32(trex.start + 4))
    if (!track) continue
    track.defaultSampleDuration = view.getUint32(trex.start + 12)
    track.defaultSampleFlags = view.getUint32(trex.start + 20)
  }
  if (tracks.size === 0) throw new Mp4FormatError('the init segment has no tracks')
  return [...tracks.values()]
}

/** One track's run of samples in a fragment. */
export interface Mp4TrackFragment {
  trackId: number
  /** tfdt: decode time of the first sample, in the track's timescale. */
  baseDecodeTime: number
  /** Sum of the sample durations, in the track's timescale. */
  duration: number
  samples: number
  /** The first sample is a sync sample (a keyframe for video). */
  startsWithSync: boolean
}

/** `sample_is_non_sync_sample` in ISO BMFF sample flags. */
const NON_SYNC_SAMPLE = 0x00010000

/** The timing and sync flags of a `moof` box (the whole box), per track, using `tracks` for defaults. */
export function readFragment(moof: Uint8Array, tracks: readonly Mp4Track[]): Mp4TrackFragment[] {
  if (fourCc(moof, 4) !== 'moof') throw new Mp4FormatError(`expected moof, got "${fourCc(moof, 4)}"`)
  const view = new DataView(moof.buffer, moof.byteOffset, moof.byteLength)
  const fragments: Mp4TrackFragment[] = []
  for (const traf of children(moof, 8, moof.byteLength)) {
    if (traf.type !== 'traf') continue
    const tfhd = child(moof, traf.start, traf.end, 'tfhd')
    if (!tfhd) throw new Mp4FormatError('a traf lacks tfhd')
    const tfhdFlags = view.getUint32(tfhd.start) & 0xffffff
    const trackId = view.getUint32(tfhd.start + 4)
    const track = tracks.find((t) => t.id === trackId)
    if (!track) throw new Mp4FormatError(`a fragment refers to unknown track ${trackId}`)
    let field = tfhd.start + 8
    if (tfhdFlags & 0x01) field += 8 // base_data_offset
    if (tfhdFlags & 0x02) field += 4 // sample_description_index
    let defaultDuration = track.defaultSampleDuration
    let defaultFlags = track.defaultSampleFlags
    if (tfhdFlags & 0x08) {
      defaultDuration = view.getUint32(field)
      field += 4
    }
    if (tfhdFlags & 0x10) field += 4 // default_sample_size
    if (tfhdFlags & 0x20) defaultFlags = view.getUint32(field)

    const tfdt = child(moof, traf.start, traf.end, 'tfdt')
    const baseDecodeTime = !tfdt
      ? 0
      : moof[tfdt.start] === 1
        ? Number(view.getBigUint64(tfdt.start + 4))
        : view.getUint32(tfdt.start + 4)
    let duration = 0
    let samples = 0
    let firstFlags: number | undefined
    for (const trun of children(moof, traf.start, traf.end)) {
      if (trun.type !== 'trun') continue
      const flags = view.getUint32(trun.start) & 0xffffff
      const count = view.getUint32(trun.start + 4)
      let offset = trun.start + 8
      if (flags & 0x01) offset += 4 // data_offset
      let firstSampleFlags: number | undefined
      if (flags & 0x04) {
        firstSampleFlags = view.getUint32(offset)
        offset += 4
      }
      const perSample =
        ((flags & 0x100 ? 1 : 0) +
          (flags & 0x200 ? 1 : 0) +
          (flags & 0x400 ? 1 : 0) +
          (flags & 0x800 ? 1 : 0)) *
        4
      if (offset + perSample * count > trun.end) throw new Mp4FormatError('a trun overruns its box')
      for (let i = 0; i < count; i++) {
        let at = offset + i * perSample
        let sampleDuration = defaultDuration
        if (flags & 0x100) {
          sampleDuration = view.getUint32(at)
          at += 4
        }
        if (flags & 0x200) at += 4 // sample_size
        let sampleFlags = i === 0 && firstSampleFlags !== undefined ? firstSampleFlags : defaultFlags
        if (flags & 0x400) sampleFlags = view.getUint32(at)
        if (samples === 0 && i === 0) firstFlags = sampleFlags
        duration += sampleDuration
      }
      samples += count
    }
    fragments.push({
      trackId,
      baseDecodeTime,
      duration,
      samples,
      startsWithSync: samples > 0 && ((firstFlags ?? defaultFlags) & NON_SYNC_SAMPLE) === 0,
    })
  }
  return fragments
}
