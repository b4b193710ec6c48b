/**
 * Who transcodes a call: the addon for what uploaders send (AAC-LC m4a, WAV, MP3), FFmpeg for what it leaves (HE-AAC,
 * other formats), FFmpeg alone with CALL_TRANSCODER=ffmpeg. Whichever path, the recording is valid Ogg Opus with the
 * call's duration, CALL_MAX_SECONDS cuts it, and a file neither can read is a 415 that stores nothing.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { makeTone } from '../support/audio.ts'
import { type RunningServer, startServer } from '../support/server.ts'
import { tempDir } from '../support/tmp.ts'
import { callAudio, rdioScannerForm, upload } from './support.ts'

const KEY = 'test-ingest-key'
let server: RunningServer
let ffmpegOnly: RunningServer
let m4a: Uint8Array
let wav: Uint8Array
let mp3: Uint8Array
let flac: Uint8Array

/**
 * FFmpeg writes AAC-LC's AudioSpecificConfig with the backward compatible sync extension saying "no SBR"
 * (`14 08 56 e5 00`); setting its SBR flag and a 32 kHz extension rate (`… a8`) makes the same file HE-AAC, which
 * FFmpeg decodes and the addon must leave to it.
 */
function asHeAac(lc: Uint8Array): Uint8Array {
  const marker = [0x05, 0x80, 0x80, 0x80, 0x05, 0x14, 0x08, 0x56, 0xe5, 0x00]
  const out = lc.slice()
  for (let at = 0; at + marker.length <= out.length; at++) {
    if (marker.every((byte, i) => out[at + i] === byte)) {
      out[at + 9] = 0xa8
      return out
    }
  }
  throw new Error("FFmpeg's AAC-LC DecoderSpecificInfo not found")
}

async function send(
  target: RunningServer,
  bytes: Uint8Array,
  fileName: string,
  over: Record<string, string>,
): Promise<{ status: number; text: string }> {
  return upload(
    `${target.url}/api/call-upload`,
    rdioScannerForm({ bytes, fileName, contentType: 'application/octet-stream' }, { key: KEY, ...over }),
  )
}

async function transcodes(target: RunningServer): Promise<Record<string, number>> {
  const text = await (await fetch(`${target.url}/metrics`)).text()
  const counts: Record<string, number> = {}
  for (const [, path, reason, value] of text.matchAll(
    /^airwave_calls_transcodes_total\{path="(\w+)",reason="(\w+)"\} (\d+)$/gm,
  ))
    counts[`${path}/${reason}`] = Number(value)
  return counts
}

/** The stored call's row and its recording's duration (ffprobe) after opusinfo found it valid. */
async function stored(target: RunningServer, query: string): Promise<{ duration: number; probed: number }> {
  const rows = (await (await fetch(`${target.url}/api/v1/transmissions${query}`)).json()) as {
    data: Array<{ duration: number; recording_url: string }>
  }
  expect(rows.data.length).toBe(1)
  const row = rows.data[0] as { duration: number; recording_url: string }
  const dir = tempDir('airwave-call-rec-')
  try {
    const path = join(dir.path, 'call.ogg')
    await Bun.write(
      path,
      await (await fetch(`${target.url}${new URL(row.recording_url).pathname}`)).arrayBuffer(),
    )
    const opusinfo = Bun.spawnSync(['opusinfo', path], { stderr: 'pipe' })
    expect(opusinfo.exitCode).toBe(0)
    expect(opusinfo.stdout.toString() + opusinfo.stderr.toString()).not.toMatch(/WARNING|error/i)
    const probe = Bun.spawnSync([
      'ffprobe',
      '-v',
      'error',
      '-show_entries',
      'format=duration',
      '-of',
      'json',
      path,
    ])
    return { duration: row.duration, probed: Number(JSON.parse(probe.stdout.toString()).format.duration) }
  } finally {
    dir.remove()
  }
}

beforeAll(async () => {
  m4a = await callAudio('m4a', 2)
  wav = await callAudio('wav', 2)
  mp3 = await callAudio('mp3', 2)
  const dir = tempDir('airwave-call-flac-')
  flac = new Uint8Array(
    readFileSync(await makeTone(dir.path, 'call.flac', 5, { args: ['-ac', '1', '-ar', '16000'] })),
  )
  dir.remove()
  ;[server, ffmpegOnly] = await Promise.all([
    startServer({ INGEST_API_KEYS: KEY, CALL_MAX_SECONDS: '3' }),
    startServer({ INGEST_API_KEYS: KEY, CALL_TRANSCODER: 'ffmpeg' }),
  ])
})
afterAll(async () => {
  await Promise.all([server?.stop(), ffmpegOnly?.stop()])
})

describe('CALL_TRANSCODER=native (the default)', () => {
  test('trunk-recorder m4a, its wav and SDRTrunk mp3 are transcoded in process', async () => {
    const sent: Array<[Uint8Array, string, string]> = [
      [m4a, 'call.m4a', '10'],
      [wav, 'call.wav', '11'],
      [mp3, 'call.mp3', '12'],
    ]
    for (const [bytes, name, talkgroup] of sent) {
      expect(await send(server, bytes, name, { talkgroup, dateTime: '1767446100' })).toMatchObject({
        status: 200,
      })
      const { duration, probed } = await stored(server, `?system=7&talkgroup_id=${talkgroup}`)
      // AAC and MP3 encoders add priming; the stored call is at most one 100 ms packet longer.
      expect(duration).toBeGreaterThanOrEqual(2)
      expect(duration).toBeLessThanOrEqual(2.2)
      expect(probed).toBeCloseTo(duration, 1)
    }
    expect(await transcodes(server)).toMatchObject({ 'native/aac': 1, 'native/pcm': 1, 'native/mp3': 1 })
  })

  test('HE-AAC goes to FFmpeg and is stored like any call', async () => {
    const before = await transcodes(server)
    expect(
      await send(server, asHeAac(m4a), 'call.m4a', { talkgroup: '20', dateTime: '1767446100' }),
    ).toMatchObject({
      status: 200,
    })
    expect((await transcodes(server))['ffmpeg/UNSUPPORTED_AUDIO']).toBe(
      (before['ffmpeg/UNSUPPORTED_AUDIO'] ?? 0) + 1,
    )
    const { duration, probed } = await stored(server, '?system=7&talkgroup_id=20')
    expect(duration).toBeCloseTo(2, 0)
    expect(probed).toBeCloseTo(duration, 1)
  })

  test('CALL_MAX_SECONDS cuts a call on either path', async () => {
    const longWav = await callAudio('wav', 5)
    expect(
      await send(server, longWav, 'call.wav', { talkgroup: '30', dateTime: '1767446100' }),
    ).toMatchObject({
      status: 200,
    })
    expect((await stored(server, '?system=7&talkgroup_id=30')).duration).toBe(3)
    // FLAC is not a format the addon reads: FFmpeg's `-t` makes the same cut.
    expect(await send(server, flac, 'call.flac', { talkgroup: '31', dateTime: '1767446100' })).toMatchObject({
      status: 200,
    })
    // libopus's look-ahead can spill the last samples into one more 100 ms packet.
    const cut = (await stored(server, '?system=7&talkgroup_id=31')).duration
    expect(cut).toBeGreaterThanOrEqual(3)
    expect(cut).toBeLessThanOrEqual(3.1)
  })

  test('a damaged m4a that neither path can read is a 415 that stores nothing', async () => {
    const before = await transcodes(server)
    // FFmpeg writes the moov box last: cut it off and no decoder knows what the samples are.
    const reply = await send(server, m4a.subarray(0, Math.floor(m4a.length / 2)), 'call.m4a', {
      talkgroup: '40',
      dateTime: '1767446100',
    })
    expect(reply.status).toBe(415)
    expect(reply.text).toStartWith('Invalid audio file')
    const after = await transcodes(server)
    const refusals = (name: string) => (after[name] ?? 0) - (before[name] ?? 0)
    expect(refusals('ffmpeg/UNSUPPORTED_AUDIO') + refusals('ffmpeg/UNDECODABLE_AUDIO')).toBe(1)
    const rows = (await (
      await fetch(`${server.url}/api/v1/transmissions?system=7&talkgroup_id=40`)
    ).json()) as {
      data: unknown[]
    }
    expect(rows.data).toEqual([])
  })
})

test('CALL_TRANSCODER=ffmpeg sends every call through FFmpeg', async () => {
  expect(await send(ffmpegOnly, m4a, 'call.m4a', { talkgroup: '50', dateTime: '1767446100' })).toMatchObject({
    status: 200,
  })
  expect(await transcodes(ffmpegOnly)).toEqual({ 'ffmpeg/configured': 1 })
  const { duration, probed } = await stored(ffmpegOnly, '?system=7&talkgroup_id=50')
  expect(duration).toBeCloseTo(2, 0)
  expect(probed).toBeCloseTo(duration, 1)
})
