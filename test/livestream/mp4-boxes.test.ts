import { describe, expect, test } from 'bun:test'
import {
  MAX_BOX_BYTES,
  Mp4BoxSplitter,
  Mp4FormatError,
  readFragment,
  readInitTracks,
} from '../../src/livestream/mp4-boxes.ts'
import { AV_TRACKS, box, ftyp, largeBox, mdat, moof, moov, NON_SYNC, SYNC } from '../support/mp4.ts'

const u32 = (n: number) => {
  const b = new Uint8Array(4)
  new DataView(b.buffer).setUint32(0, n)
  return b
}

describe('Mp4BoxSplitter', () => {
  const stream = Buffer.concat([ftyp(), moov(AV_TRACKS), largeBox('free', new Uint8Array(5)), mdat(100)])

  test('cuts whole top-level boxes however the bytes are split, a 64-bit size included', () => {
    for (const step of [1, 3, 7, 16, 64, stream.byteLength]) {
      const splitter = new Mp4BoxSplitter()
      const boxes = []
      for (let i = 0; i < stream.byteLength; i += step)
        boxes.push(...splitter.push(stream.subarray(i, i + step)))
      expect(boxes.map((b) => b.type)).toEqual(['ftyp', 'moov', 'free', 'mdat'])
      expect(Buffer.concat(boxes.map((b) => b.bytes)).equals(stream)).toBe(true)
      expect(splitter.buffered).toBe(0)
    }
  })

  test('keeps an incomplete box pending until its last byte', () => {
    const splitter = new Mp4BoxSplitter()
    const data = mdat(50)
    expect(splitter.push(data.subarray(0, 57))).toEqual([])
    expect(splitter.buffered).toBe(57)
    expect(splitter.push(data.subarray(57)).map((b) => b.bytes.byteLength)).toEqual([58])
  })

  test('refuses sizes a live fragment cannot have: to the end of the stream, under a header, over the bound', () => {
    const header = (size: number) => Buffer.concat([u32(size), new TextEncoder().encode('mdat')])
    expect(() => new Mp4BoxSplitter().push(header(0))).toThrow(Mp4FormatError)
    expect(() => new Mp4BoxSplitter().push(header(7))).toThrow(/impossible size/)
    expect(() => new Mp4BoxSplitter().push(header(MAX_BOX_BYTES + 1))).toThrow(/over/)
  })
})

describe('readInitTracks', () => {
  test('track ids, timescales, kinds and trex defaults', () => {
    expect(
      readInitTracks(
        moov([
          { id: 1, timescale: 15360, handler: 'vide', defaultDuration: 512, defaultFlags: NON_SYNC },
          { id: 2, timescale: 48000, handler: 'soun' },
        ]),
      ),
    ).toEqual([
      { id: 1, timescale: 15360, kind: 'video', defaultSampleDuration: 512, defaultSampleFlags: NON_SYNC },
      { id: 2, timescale: 48000, kind: 'audio', defaultSampleDuration: 0, defaultSampleFlags: 0 },
    ])
  })

  test('anything but a moov with tracks is refused', () => {
    expect(() => readInitTracks(ftyp())).toThrow(/expected moov/)
    expect(() => readInitTracks(box('moov'))).toThrow(/no tracks/)
  })
})

describe('readFragment', () => {
  test('per-sample durations and first_sample_flags: a keyframe part', () => {
    const fragment = moof(1, [
      { trackId: 1, baseDecodeTime: 3072, durations: [512, 512, 512], firstFlags: SYNC, tfhdFlags: NON_SYNC },
      { trackId: 2, baseDecodeTime: 9600, durations: [1024, 1024], tfhdFlags: SYNC },
    ])
    expect(readFragment(fragment, readInitTracks(moov(AV_TRACKS)))).toEqual([
      { trackId: 1, baseDecodeTime: 3072, duration: 1536, samples: 3, startsWithSync: true },
      { trackId: 2, baseDecodeTime: 9600, duration: 2048, samples: 2, startsWithSync: true },
    ])
  })

  test('durations and flags from tfhd, else from trex; per-sample flags; a 64-bit tfdt', () => {
    const tracks = readInitTracks(
      moov([{ id: 1, timescale: 90000, handler: 'vide', defaultDuration: 3000, defaultFlags: SYNC }]),
    )
    // trex says sync, 3000 ticks a sample.
    expect(readFragment(moof(1, [{ trackId: 1, baseDecodeTime: 0, count: 4 }]), tracks)[0]).toMatchObject({
      duration: 12000,
      startsWithSync: true,
    })
    // tfhd overrides both.
    expect(
      readFragment(
        moof(2, [{ trackId: 1, baseDecodeTime: 0, count: 2, tfhdDuration: 1500, tfhdFlags: NON_SYNC }]),
        tracks,
      )[0],
    ).toMatchObject({ duration: 3000, startsWithSync: false })
    // Per-sample flags decide for the first sample too.
    expect(
      readFragment(
        moof(3, [
          {
            trackId: 1,
            baseDecodeTime: 2 ** 40,
            count: 2,
            sampleFlags: [NON_SYNC, SYNC],
            version1Tfdt: true,
          },
        ]),
        tracks,
      )[0],
    ).toMatchObject({ baseDecodeTime: 2 ** 40, duration: 6000, startsWithSync: false })
  })

  test('a fragment of an unknown track, or a cut-off trun, is refused', () => {
    const tracks = readInitTracks(moov(AV_TRACKS))
    expect(() => readFragment(moof(1, [{ trackId: 9, baseDecodeTime: 0, count: 1 }]), tracks)).toThrow(
      /unknown track 9/,
    )
    const whole = moof(1, [{ trackId: 1, baseDecodeTime: 0, durations: [512, 512] }])
    const cut = Buffer.from(whole)
    // Claim three samples in a trun that holds two.
    const trun = cut.indexOf('trun')
    cut.writeUInt32BE(3, trun + 8)
    expect(() => readFragment(cut, tracks)).toThrow(Mp4FormatError)
  })
})

test("FFmpeg's own fragmented MP4: H.264 + AAC tracks, 200 ms parts, a keyframe part every 2 s", async () => {
  const proc = Bun.spawn(
    [
      'ffmpeg',
      '-v',
      'error',
      '-f',
      'lavfi',
      '-i',
      'testsrc=size=320x180:rate=30',
      '-f',
      'lavfi',
      '-i',
      'sine=sample_rate=48000',
      '-t',
      '4.5',
      '-c:v',
      'libx264',
      '-preset',
      'ultrafast',
      '-tune',
      'zerolatency',
      '-force_key_frames',
      'expr:gte(t,n_forced*2)',
      '-sc_threshold',
      '0',
      '-c:a',
      'aac',
      '-flags',
      '+global_header',
      '-f',
      'mp4',
      '-movflags',
      'empty_moov+default_base_moof+frag_keyframe',
      '-frag_duration',
      '200000',
      'pipe:1',
    ],
    { stdout: 'pipe', stderr: 'inherit' },
  )
  const bytes = new Uint8Array(await new Response(proc.stdout).arrayBuffer())
  expect(await proc.exited).toBe(0)
  const boxes = new Mp4BoxSplitter().push(bytes)
  expect(boxes.slice(0, 2).map((b) => b.type)).toEqual(['ftyp', 'moov'])
  const tracks = readInitTracks(boxes[1]?.bytes as Uint8Array)
  expect(tracks.map((t) => t.kind)).toEqual(['video', 'audio'])
  const video = tracks[0] as (typeof tracks)[number]
  const parts = boxes
    .filter((b) => b.type === 'moof')
    .map((b) => readFragment(b.bytes, tracks).find((f) => f.trackId === video.id))
  const keyframesAt = parts.flatMap((p) =>
    p?.startsWithSync ? [(p.baseDecodeTime / video.timescale).toFixed(1)] : [],
  )
  expect(keyframesAt).toEqual(['0.0', '2.0', '4.0'])
  for (const part of parts) expect((part?.duration ?? 0) / video.timescale).toBeLessThanOrEqual(0.2 + 1 / 30)
  expect(boxes.filter((b) => b.type === 'mdat').length).toBe(parts.length)
})
