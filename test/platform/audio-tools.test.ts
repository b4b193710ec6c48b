import { afterAll, describe, expect, test } from 'bun:test'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import {
  ffprobePathFor,
  parseProbe,
  probeArgs,
  probeAudio,
  probeFailureReason,
  UnreadableAudioError,
} from '../../src/platform/ffprobe.ts'
import { mp3TranscodeArgs, transcodeToMp3 } from '../../src/platform/mp3-transcode.ts'
import { opusVoiceArgs } from '../../src/platform/opus-transcode.ts'
import { makeTone } from '../audiobooks/fixtures.ts'
import { tempDir } from '../support/tmp.ts'

const dir = tempDir('airwave-audio-tools-')
afterAll(() => dir.remove())
const WHITELIST = 'mp3,wav,w64,flac,ogg,mov,matroska,aac,aiff,caf,asf'

describe('argument arrays', () => {
  test('probeArgs', () => {
    expect(probeArgs('/usr/bin/ffprobe', '/data/staging/j/source_1')).toEqual([
      '/usr/bin/ffprobe',
      '-hide_banner',
      '-v',
      'error',
      '-protocol_whitelist',
      'file',
      '-format_whitelist',
      WHITELIST,
      '-print_format',
      'json',
      '-show_format',
      '-show_streams',
      '/data/staging/j/source_1',
    ])
  })

  test('mp3TranscodeArgs', () => {
    expect(
      mp3TranscodeArgs('ffmpeg', 'in', 'out.mp3', {
        bitrateKbps: 128,
        maxSeconds: 43200,
        maxOutputBytes: 1000,
      }),
    ).toEqual([
      'ffmpeg',
      '-hide_banner',
      '-nostdin',
      '-v',
      'error',
      '-protocol_whitelist',
      'file',
      '-format_whitelist',
      WHITELIST,
      '-i',
      'in',
      '-map',
      '0:a:0',
      '-map_metadata',
      '-1',
      '-c:a',
      'libmp3lame',
      '-b:a',
      '128k',
      '-t',
      '43200',
      '-fs',
      '1000',
      '-f',
      'mp3',
      '-y',
      'out.mp3',
    ])
  })

  test('opusVoiceArgs', () => {
    expect(
      opusVoiceArgs('ffmpeg', 'in', 'out.opus', { maxSeconds: 600, maxOutputBytes: 2000, complexity: 3 }),
    ).toEqual([
      'ffmpeg',
      '-hide_banner',
      '-nostdin',
      '-v',
      'error',
      '-protocol_whitelist',
      'file',
      '-format_whitelist',
      WHITELIST,
      '-i',
      'in',
      '-map',
      '0:a:0',
      '-map_metadata',
      '-1',
      '-ac',
      '1',
      '-ar',
      '16000',
      '-c:a',
      'libopus',
      '-b:a',
      '16k',
      '-application',
      'voip',
      '-frame_duration',
      '100',
      '-compression_level',
      '3',
      '-t',
      '600',
      '-fs',
      '2000',
      '-f',
      'ogg',
      '-y',
      'out.opus',
    ])
  })

  test('ffprobe is found next to ffmpeg', () => {
    expect(ffprobePathFor('ffmpeg')).toBe('ffprobe')
    expect(ffprobePathFor('/opt/ff/bin/ffmpeg')).toBe('/opt/ff/bin/ffprobe')
    expect(ffprobePathFor('/opt/ff/bin/ffmpeg-6')).toBe('/opt/ff/bin/ffprobe-6')
    expect(ffprobePathFor('/usr/local/bin/avconv')).toBe('/usr/local/bin/ffprobe')
  })
})

describe('parseProbe', () => {
  const json = (value: unknown) => JSON.stringify(value)

  test('reads the container and the first audio stream', () => {
    const probe = parseProbe(
      json({
        format: { format_name: 'mp3', duration: '2.037551', bit_rate: '129810' },
        streams: [
          { codec_type: 'video', codec_name: 'mjpeg' },
          { codec_type: 'audio', codec_name: 'mp3', sample_rate: '44100', channels: 1, bit_rate: '128000' },
        ],
      }),
    )
    expect(probe).toEqual({
      formatName: 'mp3',
      codecName: 'mp3',
      duration: 2.037551,
      sampleRate: 44100,
      channels: 1,
      bitRate: 128000,
    })
  })

  test('falls back to the stream duration', () => {
    const probe = parseProbe(
      json({
        format: { format_name: 'ogg' },
        streams: [{ codec_type: 'audio', codec_name: 'opus', duration: '3.5' }],
      }),
    )
    expect(probe.duration).toBe(3.5)
  })

  test('refuses files without audio or duration, and garbage', () => {
    expect(() =>
      parseProbe(
        json({ format: { format_name: 'image2' }, streams: [{ codec_type: 'video', codec_name: 'png' }] }),
      ),
    ).toThrow('no audio stream')
    expect(() =>
      parseProbe(
        json({
          format: { format_name: 'wav', duration: 'N/A' },
          streams: [{ codec_type: 'audio', codec_name: 'pcm' }],
        }),
      ),
    ).toThrow('no measurable duration')
    expect(() => parseProbe('not json')).toThrow(UnreadableAudioError)
  })

  test('failure reasons never show server paths', () => {
    expect(
      probeFailureReason(
        '/data/staging/x/source_1: Invalid data found when processing input',
        '/data/staging/x/source_1',
      ),
    ).toBe('Invalid data found when processing input')
    expect(probeFailureReason('', '/x')).toBe('ffprobe could not read it')
  })
})

describe('with the real ffprobe and ffmpeg', () => {
  test('probes WAV, Ogg Opus and M4A, and transcodes to an MP3 of the same length', async () => {
    for (const [name, seconds] of [
      ['a.wav', 2],
      ['b.ogg', 1.5],
      ['c.m4a', 2.5],
    ] as const) {
      const input = await makeTone(dir.path, name, seconds)
      const probe = await probeAudio('ffprobe', input, { timeoutMs: 10_000 })
      expect(Math.abs(probe.duration - seconds)).toBeLessThan(0.1)
      const output = join(dir.path, `${name}.mp3`)
      await transcodeToMp3('ffmpeg', input, output, {
        bitrateKbps: 128,
        maxSeconds: 3600,
        maxOutputBytes: 10_000_000,
        timeoutMs: 30_000,
      })
      const mp3 = await probeAudio('ffprobe', output, { timeoutMs: 10_000 })
      expect(mp3).toMatchObject({ formatName: 'mp3', codecName: 'mp3' })
      expect(Math.abs(mp3.duration - seconds)).toBeLessThan(0.1)
    }
  })

  test('text, random bytes and playlists are refused before any decoding', async () => {
    const text = join(dir.path, 'notes')
    await writeFile(text, 'hello, this is not audio\n')
    const noise = join(dir.path, 'noise')
    await writeFile(noise, crypto.getRandomValues(new Uint8Array(20_000)))
    // Without the demuxer whitelist, ffprobe reads this HLS playlist and opens the file it names.
    const secret = await makeTone(dir.path, 'secret.aac', 1)
    const playlist = join(dir.path, 'list')
    await writeFile(playlist, `#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1,\n${secret}\n#EXT-X-ENDLIST\n`)
    const unguarded = Bun.spawn(['ffprobe', '-v', 'error', '-show_entries', 'format=format_name', playlist])
    expect(await new Response(unguarded.stdout).text()).toContain('format_name=hls')
    for (const path of [text, noise, playlist]) {
      const error = await probeAudio('ffprobe', path, { timeoutMs: 10_000 }).catch((e: unknown) => e)
      expect(error).toBeInstanceOf(UnreadableAudioError)
      expect((error as Error).message).not.toContain(dir.path)
    }
    const error = await transcodeToMp3('ffmpeg', playlist, join(dir.path, 'list.mp3'), {
      bitrateKbps: 128,
      maxSeconds: 10,
      maxOutputBytes: 1_000_000,
      timeoutMs: 10_000,
    }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(UnreadableAudioError)
    expect((error as Error).message).toStartWith('FFmpeg could not convert it to MP3: ')
    expect((error as Error).message).not.toContain(dir.path)
  })
})
