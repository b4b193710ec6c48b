import { describe, expect, test } from 'bun:test'
import {
  buildHlsArgs,
  isProgressLine,
  parseProgressLine,
  parseSegmentListLine,
  segmentFileName,
} from '../../src/livestream/hls-args.ts'
import { renderPlaylist } from '../../src/livestream/playlist.ts'

describe('buildHlsArgs', () => {
  test('one encode (zerolatency, CFR, keyframes on segment boundaries), teed to MPEG-TS segments and fMP4 on stdout', () => {
    expect(
      buildHlsArgs({
        outputDir: '/data/livestream/abc',
        segmentSeconds: 2,
        startNumber: 0,
        x264Preset: 'veryfast',
        frameRate: 30,
        fragmentSeconds: 0.2,
      }),
    ).toEqual([
      '-hide_banner',
      '-nostdin',
      '-loglevel',
      'warning',
      '-progress',
      'pipe:2',
      '-f',
      'webm',
      '-i',
      'pipe:0',
      '-map',
      '0:v:0?',
      '-map',
      '0:a:0?',
      '-c:v',
      'libx264',
      '-preset',
      'veryfast',
      '-tune',
      'zerolatency',
      '-pix_fmt',
      'yuv420p',
      '-fps_mode',
      'cfr',
      '-r',
      '30',
      '-force_key_frames',
      'expr:gte(t,n_forced*2)',
      '-sc_threshold',
      '0',
      '-c:a',
      'aac',
      '-b:a',
      '128k',
      '-ar',
      '48000',
      '-ac',
      '2',
      '-flags',
      '+global_header',
      '-f',
      'tee',
      '[f=segment:segment_format=mpegts:segment_time=2:segment_start_number=0:segment_list=pipe\\\\:2:segment_list_type=csv]/data/livestream/abc/segment_%d.ts' +
        '|[f=mp4:movflags=empty_moov+default_base_moof+frag_keyframe:frag_duration=200000]pipe:1',
    ])
  })

  test('a restarted run continues the numbering and keeps the configured segment length, preset and rates', () => {
    const args = buildHlsArgs({
      outputDir: '/d',
      segmentSeconds: 4,
      startNumber: 17,
      x264Preset: 'ultrafast',
      frameRate: 25,
      fragmentSeconds: 0.333,
    })
    const after = (flag: string) => args[args.indexOf(flag) + 1]
    expect(after('-force_key_frames')).toBe('expr:gte(t,n_forced*4)')
    expect(after('-preset')).toBe('ultrafast')
    expect(after('-r')).toBe('25')
    expect(args.at(-1)).toBe(
      '[f=segment:segment_format=mpegts:segment_time=4:segment_start_number=17:segment_list=pipe\\\\:2:segment_list_type=csv]/d/segment_%d.ts' +
        '|[f=mp4:movflags=empty_moov+default_base_moof+frag_keyframe:frag_duration=333000]pipe:1',
    )
  })

  test("the tee muxer's special characters in the output directory are escaped", () => {
    const args = buildHlsArgs({
      outputDir: '/data/a|b[c]\\d',
      segmentSeconds: 2,
      startNumber: 0,
      x264Preset: 'veryfast',
      frameRate: 30,
      fragmentSeconds: 0.2,
    })
    expect(args.at(-1)).toContain(']/data/a\\|b\\[c\\]\\\\d/segment_%d.ts|[f=mp4')
  })

  test('segment file names match the HTTP route', () => {
    expect(segmentFileName(0)).toBe('segment_0.ts')
    expect(segmentFileName(123)).toBe('segment_123.ts')
  })
})

describe('playlist', () => {
  test('the document EVENT playlist while live', () => {
    const text = renderPlaylist(
      [
        { number: 0, duration: 2, discontinuity: false },
        { number: 1, duration: 2.002, discontinuity: false },
      ],
      2,
      false,
    )
    expect(text).toBe(
      [
        '#EXTM3U',
        '#EXT-X-VERSION:6',
        '#EXT-X-TARGETDURATION:2',
        '#EXT-X-MEDIA-SEQUENCE:0',
        '#EXT-X-PLAYLIST-TYPE:EVENT',
        '#EXT-X-INDEPENDENT-SEGMENTS',
        '',
        '#EXTINF:2.000,',
        'segment_0.ts',
        '#EXTINF:2.002,',
        'segment_1.ts',
        '',
      ].join('\n'),
    )
  })

  test('a discontinuity before the first segment of a restarted FFmpeg, ENDLIST once ended', () => {
    const text = renderPlaylist(
      [
        { number: 0, duration: 2, discontinuity: false },
        { number: 1, duration: 1.5, discontinuity: true },
      ],
      2,
      true,
    )
    expect(
      text.endsWith(
        '#EXTINF:2.000,\nsegment_0.ts\n#EXT-X-DISCONTINUITY\n#EXTINF:1.500,\nsegment_1.ts\n#EXT-X-ENDLIST\n',
      ),
    ).toBe(true)
  })

  test('the target duration grows to the longest rounded segment', () => {
    expect(renderPlaylist([{ number: 0, duration: 3.6, discontinuity: false }], 2, false)).toContain(
      '#EXT-X-TARGETDURATION:4\n',
    )
    expect(renderPlaylist([{ number: 0, duration: 2.4, discontinuity: false }], 2, false)).toContain(
      '#EXT-X-TARGETDURATION:2\n',
    )
  })

  test('segment list lines from FFmpeg', () => {
    expect(parseSegmentListLine('segment_5.ts,10.010000,12.012000')).toEqual({
      number: 5,
      duration: 12.012 - 10.01,
    })
    expect(parseSegmentListLine('/data/x/segment_0.ts,0.000000,2.014333\r')).toEqual({
      number: 0,
      duration: 2.014333,
    })
    expect(parseSegmentListLine('[hls @ 0x1] Opening segment_1.ts')).toBeUndefined()
    expect(parseSegmentListLine('segment_1.ts,5,4')).toBeUndefined()
    expect(parseSegmentListLine('')).toBeUndefined()
  })

  test('isProgressLine tells -progress lines from FFmpeg warnings on the same stderr', () => {
    for (const line of ['frame=42', 'speed=1.01x', 'speed=   1x', 'out_time_us=N/A', 'progress=continue'])
      expect(isProgressLine(line)).toBe(true)
    for (const line of [
      '[aac @ 0x55] Too many packets buffered',
      'segment_1.ts,2.0,4.0',
      'Error while decoding',
    ])
      expect(isProgressLine(line)).toBe(false)
  })

  test('parseProgressLine reads out_time_us and nothing else', () => {
    expect(parseProgressLine('out_time_us=2610167')).toBe(2_610_167)
    expect(parseProgressLine('out_time_us=0\r')).toBe(0)
    expect(parseProgressLine('out_time_us=N/A')).toBeUndefined()
    expect(parseProgressLine('out_time_ms=2610167')).toBeUndefined()
    expect(parseProgressLine('progress=continue')).toBeUndefined()
    expect(parseProgressLine('segment_1.ts,2.0,4.0')).toBeUndefined()
  })
})
