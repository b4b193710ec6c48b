/** Builds small fragmented-MP4 boxes for packager tests: exactly the fields the packager reads, nothing more. */

const u32 = (n: number) => {
  const b = new Uint8Array(4)
  new DataView(b.buffer).setUint32(0, n)
  return b
}
const u64 = (n: number) => {
  const b = new Uint8Array(8)
  new DataView(b.buffer).setBigUint64(0, BigInt(n))
  return b
}
const ascii = (s: string) => new TextEncoder().encode(s)

export function box(type: string, ...payload: Uint8Array[]): Uint8Array {
  const size = 8 + payload.reduce((n, p) => n + p.byteLength, 0)
  return Buffer.concat([u32(size), ascii(type), ...payload])
}

/** A box with a 64-bit size header (size field 1). */
export function largeBox(type: string, ...payload: Uint8Array[]): Uint8Array {
  const size = 16 + payload.reduce((n, p) => n + p.byteLength, 0)
  return Buffer.concat([u32(1), ascii(type), u64(size), ...payload])
}

const full = (version: number, flags: number) => u32((version << 24) | flags)

export interface TrackSpec {
  id: number
  timescale: number
  handler: 'vide' | 'soun'
  defaultDuration?: number
  defaultFlags?: number
}

export const ftyp = () => box('ftyp', ascii('iso5'), u32(512), ascii('iso5iso6mp41'))

export function moov(tracks: TrackSpec[]): Uint8Array {
  const traks = tracks.map((t) =>
    box(
      'trak',
      // tkhd v0: version/flags, creation, modification, track_ID, …
      box('tkhd', full(0, 3), u32(0), u32(0), u32(t.id), new Uint8Array(68)),
      box(
        'mdia',
        // mdhd v0: version/flags, creation, modification, timescale, duration, language
        box('mdhd', full(0, 0), u32(0), u32(0), u32(t.timescale), u32(0), u32(0)),
        box('hdlr', full(0, 0), u32(0), ascii(t.handler), new Uint8Array(12), ascii('x\0')),
      ),
    ),
  )
  const trexes = tracks.map((t) =>
    box('trex', full(0, 0), u32(t.id), u32(1), u32(t.defaultDuration ?? 0), u32(0), u32(t.defaultFlags ?? 0)),
  )
  return box('moov', box('mvhd', full(0, 0), new Uint8Array(96)), ...traks, box('mvex', ...trexes))
}

/** ISO BMFF sample flags: a sync sample (depends on nothing) or a non-sync one. */
export const SYNC = 0x02000000
export const NON_SYNC = 0x01010000

export interface TrafSpec {
  trackId: number
  baseDecodeTime: number
  /** Per-sample durations (written in the trun), or `count` samples of `tfhdDuration` (written in tfhd). */
  durations?: number[]
  count?: number
  tfhdDuration?: number
  /** Written as first_sample_flags. */
  firstFlags?: number
  /** Written as tfhd default_sample_flags. */
  tfhdFlags?: number
  /** Per-sample flags written in the trun. */
  sampleFlags?: number[]
  version1Tfdt?: boolean
}

export function moof(sequence: number, trafs: TrafSpec[]): Uint8Array {
  const parts = trafs.map((t) => {
    let tfhdFlags = 0x020000 // default-base-is-moof
    const tfhdFields: Uint8Array[] = [u32(t.trackId)]
    if (t.tfhdDuration !== undefined) {
      tfhdFlags |= 0x08
      tfhdFields.push(u32(t.tfhdDuration))
    }
    if (t.tfhdFlags !== undefined) {
      tfhdFlags |= 0x20
      tfhdFields.push(u32(t.tfhdFlags))
    }
    const count = t.durations?.length ?? t.count ?? 0
    let trunFlags = 0x01 | 0x200 // data offset, sample sizes
    const head: Uint8Array[] = [u32(count), u32(0)]
    if (t.firstFlags !== undefined) {
      trunFlags |= 0x04
      head.push(u32(t.firstFlags))
    }
    if (t.durations) trunFlags |= 0x100
    if (t.sampleFlags) trunFlags |= 0x400
    const samples: Uint8Array[] = []
    for (let i = 0; i < count; i++) {
      if (t.durations) samples.push(u32(t.durations[i] as number))
      samples.push(u32(10))
      if (t.sampleFlags) samples.push(u32(t.sampleFlags[i] as number))
    }
    return box(
      'traf',
      box('tfhd', full(0, tfhdFlags), ...tfhdFields),
      t.version1Tfdt
        ? box('tfdt', full(1, 0), u64(t.baseDecodeTime))
        : box('tfdt', full(0, 0), u32(t.baseDecodeTime)),
      box('trun', full(0, trunFlags), ...head, ...samples),
    )
  })
  return box('moof', box('mfhd', full(0, 0), u32(sequence)), ...parts)
}

export const mdat = (bytes = 16) => box('mdat', new Uint8Array(bytes).fill(7))

/** 30 fps video in a 15360 timescale (512 ticks a frame) and 48 kHz AAC, as FFmpeg writes them. */
export const AV_TRACKS: TrackSpec[] = [
  { id: 1, timescale: 15360, handler: 'vide' },
  { id: 2, timescale: 48000, handler: 'soun' },
]

/**
 * A 200 ms part as FFmpeg writes one: 6 video frames (sync first when `keyframe`) and 9 or 10 AAC frames;
 * `index` counts parts from the start of the run.
 */
export function avPart(index: number, keyframe: boolean, frames = 6): Uint8Array {
  return Buffer.concat([
    moof(index + 1, [
      {
        trackId: 1,
        baseDecodeTime: index * 6 * 512,
        durations: Array.from({ length: frames }, () => 512),
        firstFlags: keyframe ? SYNC : NON_SYNC,
        tfhdFlags: NON_SYNC,
      },
      {
        trackId: 2,
        baseDecodeTime: index * 9600,
        durations: Array.from({ length: 9 }, () => 1024),
        tfhdFlags: SYNC,
      },
    ]),
    mdat(32),
  ])
}

/** The start of a run: ftyp + moov. */
export const avInit = () => Buffer.concat([ftyp(), moov(AV_TRACKS)])
