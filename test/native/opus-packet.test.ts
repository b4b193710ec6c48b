import { afterAll, describe, expect, test } from 'bun:test'
import { join } from 'node:path'
import {
  classifyChunk,
  inspectOpusPacket,
  NativeError,
  OggDemuxer,
  parseOpusHead,
  parseOpusTags,
  validateOpusPacket,
} from '../../src/platform/native.ts'
import { encodeOpus, itemAt, makeTempDir } from './fixtures.ts'

const temp = makeTempDir()
afterAll(temp.remove)

const celtFile = encodeOpus(join(temp.dir, 'music.opus'), 'sine=frequency=1000:duration=2', [
  '-b:a',
  '96k',
  '-application',
  'audio',
])
const silkFile = encodeOpus(join(temp.dir, 'voice.opus'), 'sine=frequency=300:duration=2:sample_rate=8000', [
  '-ar',
  '8000',
  '-b:a',
  '8k',
  '-frame_duration',
  '100',
])

function audioPackets(file: Uint8Array): Uint8Array[] {
  return new OggDemuxer()
    .push(file)
    .packets.slice(2)
    .map((p) => p.data)
}

function thrownCode(body: () => unknown): string | undefined {
  try {
    body()
  } catch (error) {
    expect(error).toBeInstanceOf(NativeError)
    return (error as NativeError).code
  }
  return undefined
}

describe('inspectOpusPacket on FFmpeg output', () => {
  test('48 kHz music is 20 ms CELT fullband, code 0', () => {
    const info = inspectOpusPacket(itemAt(audioPackets(celtFile), 10))
    expect(info).toMatchObject({ mode: 'CELT', bandwidth: 'FB', frameCountCode: 0, frameCount: 1 })
    expect(info.durationSamples).toBe(960)
  })

  test('8 kHz with -frame_duration 100 is code 3 with five 20 ms SILK narrowband frames', () => {
    const info = inspectOpusPacket(itemAt(audioPackets(silkFile), 3))
    expect(info).toMatchObject({
      mode: 'SILK',
      bandwidth: 'NB',
      frameCountCode: 3,
      frameCount: 5,
      frameSamples: 960,
    })
    expect(info.frameLengths).toHaveLength(5)
    expect(info.durationSamples).toBe(4800)
  })

  test('every packet validates', () => {
    for (const packet of [...audioPackets(celtFile), ...audioPackets(silkFile)]) {
      expect(validateOpusPacket(packet).valid).toBe(true)
    }
  })
})

describe('RFC 6716 §3.4 violations carry stable codes', () => {
  const cases: [string, number[], string][] = [
    ['R1 empty packet', [], 'INVALID_TOC'],
    ['R2 frame over 1275 bytes', [0xf8, ...new Array(1276).fill(0)], 'FRAME_TOO_LONG'],
    ['R3 code 1 with an even length', [0xf9, 1, 2, 3], 'INVALID_FRAME_LENGTHS'],
    ['R4 code 2 first frame overruns', [0xfa, 9, 1], 'TRUNCATED'],
    ['R5 code 3 with zero frames', [0xfb, 0], 'INVALID_FRAME_COUNT'],
    ['R5 code 3 over 120 ms', [0x1b, 3], 'DURATION_TOO_LONG'],
    ['R6 CBR frames do not divide evenly', [0xfb, 2, 1, 2, 3], 'INVALID_FRAME_LENGTHS'],
    ['R6 padding past the end', [0xfb, 0x41, 50, 1], 'INVALID_PADDING'],
    ['R7 VBR lengths overrun', [0xfb, 0x83, 5, 5, 1], 'TRUNCATED'],
  ]
  test.each(cases)('%s', (_, bytes, code) => {
    const packet = new Uint8Array(bytes)
    expect(thrownCode(() => inspectOpusPacket(packet))).toBe(code)
    expect(validateOpusPacket(packet)).toMatchObject({ valid: false, code })
  })

  test('errors are real Errors with a message naming the rule', () => {
    try {
      inspectOpusPacket(new Uint8Array([0xfb, 0]))
      throw new Error('expected a throw')
    } catch (error) {
      expect(error).toBeInstanceOf(Error)
      expect((error as NativeError).code).toBe('INVALID_FRAME_COUNT')
      expect((error as Error).message).toStartWith('R5:')
    }
  })

  test('passing something that is not bytes is INVALID_ARGUMENT', () => {
    expect(thrownCode(() => inspectOpusPacket('not bytes' as unknown as Uint8Array))).toBe('INVALID_ARGUMENT')
  })
})

describe('classifyChunk', () => {
  test('a whole Ogg Opus file is ogg-opus with its duration', () => {
    const result = classifyChunk(silkFile)
    expect(result.kind).toBe('ogg-opus')
    expect(result.code).toBeUndefined()
    expect(result.durationSamples % 4800).toBe(0)
    expect(result.reason).toContain('Ogg Opus')
  })

  test('a raw packet is opus-packet', () => {
    const result = classifyChunk(itemAt(audioPackets(celtFile), 0))
    expect(result).toMatchObject({ kind: 'opus-packet', durationSamples: 960 })
    expect(result.reason).toContain('CELT')
  })

  test('text, a cut-off Ogg file and an invalid packet are neither, with a reason', () => {
    const json = classifyChunk(new TextEncoder().encode('{"hello":"world"}'))
    expect(json).toMatchObject({ kind: 'neither', code: 'DURATION_TOO_LONG' })
    expect(json.reason).toContain('not a valid Opus packet')
    expect(classifyChunk(silkFile.subarray(0, silkFile.length - 3))).toMatchObject({
      kind: 'neither',
      code: 'TRUNCATED',
    })
    expect(classifyChunk(new Uint8Array())).toMatchObject({ kind: 'neither', code: 'INVALID_TOC' })
  })
})

test('noise can be a legal packet: any code 0 packet up to 1276 bytes is valid (RFC 6716 R1–R7)', () => {
  expect(classifyChunk(new TextEncoder().encode('<!doctype html>')).kind).toBe('opus-packet')
})

describe('OpusHead and OpusTags', () => {
  test('bad headers throw with codes', () => {
    expect(thrownCode(() => parseOpusHead(new TextEncoder().encode('OpusHead')))).toBe('TRUNCATED')
    expect(thrownCode(() => parseOpusHead(new TextEncoder().encode('NotAHeadAtAllReally')))).toBe(
      'INVALID_OPUS_HEAD',
    )
    expect(thrownCode(() => parseOpusTags(new TextEncoder().encode('OpusTags\u00ff')))).toBe('TRUNCATED')
  })
})
