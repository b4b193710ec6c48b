import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { join } from 'node:path'
import { SseClient } from '../radio/support.ts'
import { type RunningServer, startServer } from '../support/server.ts'
import { tempDir } from '../support/tmp.ts'
import { callAudio, type FormPart, rdioScannerForm, upload } from './support.ts'

const KEY = 'test-ingest-key'
let server: RunningServer
let m4a: Uint8Array
let scopedKey: string
let openMhzKey: string
const clients: SseClient[] = []

const m4aPart = () => ({
  bytes: m4a,
  fileName: '100-1767446100_851012500-call_1.m4a',
  contentType: 'audio/mp4',
})

async function listen(query: string, headers: Record<string, string> = {}): Promise<SseClient> {
  const client = await SseClient.open(`${server.url}/api/v1/stream-listen${query}`, headers)
  clients.push(client)
  await client.waitFor((events) => events.some((e) => e.event === 'connected'), 5000)
  return client
}

async function history(query = ''): Promise<Array<Record<string, unknown>>> {
  const response = await fetch(`${server.url}/api/v1/transmissions${query}`)
  return ((await response.json()) as { data: Array<Record<string, unknown>> }).data
}

async function createKey(body: Record<string, unknown>): Promise<string> {
  const token = await server.token('admin', { role: 'admin' })
  const response = await fetch(`${server.url}/api/v1/admin/keys/`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  })
  expect(response.status).toBe(201)
  return ((await response.json()) as { data: { key: string } }).data.key
}

beforeAll(async () => {
  m4a = await callAudio('m4a', 4)
  server = await startServer({ INGEST_API_KEYS: KEY, CALL_UPLOAD_MAX_MB: '1' })
  scopedKey = await createKey({ name: 'tr-1', systems: [7], talkgroups: [100, 200] })
  openMhzKey = await createKey({ name: 'omz', systems: [9], openmhzShortName: 'countyfire' })
})
afterAll(async () => {
  for (const client of clients) client.close()
  await server?.stop()
})

describe('POST /api/call-upload (rdio-scanner API)', () => {
  test('a trunk-recorder upload is imported, heard live on its talkgroup only, and kept with everything it sent', async () => {
    const heard = await listen('?system=7&talkgroup=100,200')
    const other = await listen('?system=7&talkgroup=300')
    const reply = await upload(
      `${server.url}/api/call-upload`,
      rdioScannerForm(m4aPart(), { key: scopedKey }),
    )
    expect(reply).toMatchObject({
      status: 200,
      text: 'Call imported successfully.',
      type: 'text/plain; charset=utf-8',
    })

    await heard.waitFor((events) => events.some((e) => e.event === 'transmission_end'), 5000)
    const events = heard.events.filter((e) => e.event !== 'connected' && e.event !== 'keepalive')
    expect(events[0]?.event).toBe('transmission_start')
    expect(events.at(-1)?.event).toBe('transmission_end')
    const start = JSON.parse(events[0]?.data ?? '{}')
    expect(start).toMatchObject({
      transmission_id: 'c7_tg100_20260103131500000',
      slot: null,
      radio_id: 1234567,
      talkgroup_id: 100,
      system: 7,
      system_label: 'County P25',
      talkgroup_label: 'FD Dispatch',
      talkgroup_tag: 'Fire Dispatch',
      talkgroup_group: 'Fire',
      talkgroup_name: 'Fire Department Dispatch',
      frequency: 851012500,
      emergency: false,
      sources: [
        { pos: 0, src: 1234567, tag: 'Engine "7" \\ North' },
        { pos: 2.5, src: 7654321 },
      ],
    })
    const chunks = events.filter((e) => e.event === 'audio_chunk').map((e) => JSON.parse(e.data))
    expect(chunks.length).toBeGreaterThanOrEqual(39)
    expect(chunks.map((c) => c.sequence)).toEqual(chunks.map((_, i) => i))
    expect(chunks.every((c) => c.format === 'opus-packet' && c.duration_ms === 100)).toBe(true)
    // Every event has an id, in order.
    const ids = events.map((e) => Number(e.id))
    expect(ids.every((id, i) => i === 0 || id === (ids[i - 1] as number) + 1)).toBe(true)
    expect(other.events.filter((e) => e.event !== 'connected' && e.event !== 'keepalive')).toEqual([])

    const [row] = await history('?system=7&talkgroup_id=100')
    expect(row).toMatchObject({
      transmission_id: 'c7_tg100_20260103131500000',
      system: 7,
      talkgroup_id: 100,
      frequencies: [{ freq: 851012500, pos: 0, len: 4.32, errorCount: 0, spikeCount: 0 }],
    })
    // PUBLIC_URL is the configured one (port 0 here), not the test's address.
    expect(row?.call_url as string).toEndWith('/calls/c7_tg100_20260103131500000')
    expect(row?.duration as number).toBeCloseTo(4, 0)

    const recording = await fetch(`${server.url}${new URL(row?.recording_url as string).pathname}`)
    expect(recording.headers.get('content-type')).toContain('audio/ogg')
    const dir = tempDir('airwave-call-rec-')
    const path = join(dir.path, 'call.ogg')
    await Bun.write(path, await recording.arrayBuffer())
    const probe = Bun.spawnSync([
      'ffprobe',
      '-v',
      'error',
      '-show_entries',
      'format=duration:stream=codec_name',
      '-of',
      'json',
      path,
    ])
    const probed = JSON.parse(probe.stdout.toString())
    expect(probed.streams[0].codec_name).toBe('opus')
    expect(Number(probed.format.duration)).toBeCloseTo(4, 0)
    const opusinfo = Bun.spawnSync(['opusinfo', path], { stderr: 'pipe' })
    expect(opusinfo.exitCode).toBe(0)
    expect(opusinfo.stdout.toString() + opusinfo.stderr.toString()).not.toMatch(/WARNING|error/i)
    dir.remove()
  })

  test("Last-Event-ID replays what the system ring holds, of the listener's talkgroups only", async () => {
    const first = await listen('?system=7')
    const sent = await upload(
      `${server.url}/api/call-upload`,
      rdioScannerForm(m4aPart(), { talkgroup: '200', dateTime: '1767446200' }),
    )
    expect(sent.status).toBe(200)
    await first.waitFor(
      (events) => events.some((e) => e.event === 'transmission_end' && e.data.includes('c7_tg200')),
      5000,
    )
    const resumeAfter = first.events.find((e) => e.event === 'connected')?.id as string
    const onlyTg100 = await listen('?system=7&talkgroup=100', { 'last-event-id': resumeAfter })
    const all = await listen('?system=7', { 'last-event-id': resumeAfter })
    await all.waitFor((events) => events.some((e) => e.event === 'transmission_end'), 5000)
    expect(all.events.filter((e) => e.event === 'audio_chunk').length).toBeGreaterThan(30)
    await Bun.sleep(100)
    expect(onlyTg100.events.filter((e) => e.event !== 'connected' && e.event !== 'keepalive')).toEqual([])
  })

  test('a duplicate (same system and talkgroup within 500 ms) is answered 200 and stored once', async () => {
    const before = (await history('?system=7&talkgroup_id=100')).length
    const reply = await upload(
      `${server.url}/api/call-upload`,
      rdioScannerForm(m4aPart(), { dateTime: '2026-01-03T13:15:00.300Z' }),
    )
    expect(reply.status).toBe(200)
    expect(reply.text).toBe('Call imported successfully.')
    expect((await history('?system=7&talkgroup_id=100')).length).toBe(before)
  })

  test('wav (PCM16) and mp3 (SDRTrunk) calls are imported too', async () => {
    for (const [format, type, at] of [
      ['wav', 'audio/wav', '1767447000'],
      ['mp3', 'audio/mpeg', '1767447100'],
    ] as const) {
      const bytes = await callAudio(format, 2)
      const reply = await upload(
        `${server.url}/api/call-upload`,
        rdioScannerForm(
          { bytes, fileName: `call.${format}`, contentType: type },
          { talkgroup: '300', dateTime: at },
        ),
      )
      expect(reply).toMatchObject({ status: 200, text: 'Call imported successfully.' })
    }
    const rows = await history('?system=7&talkgroup_id=300')
    expect(rows.length).toBe(2)
    for (const row of rows) expect(row.duration as number).toBeCloseTo(2, 0)
  })

  describe('each bad upload gets its reply and stores nothing', () => {
    const cases: Array<[string, () => FormPart[] | { raw: RequestInit }, number, string]> = [
      ['no audio', () => rdioScannerForm(null), 417, 'Incomplete call data: no audio'],
      [
        'no dateTime',
        () => rdioScannerForm(m4aPart(), { dateTime: undefined }),
        417,
        'Incomplete call data: no datetime',
      ],
      [
        'no system',
        () => rdioScannerForm(m4aPart(), { system: undefined }),
        417,
        'Incomplete call data: no system',
      ],
      [
        'no talkgroup',
        () => rdioScannerForm(m4aPart(), { talkgroup: 'abc' }),
        417,
        'Incomplete call data: no talkgroup',
      ],
      [
        'a wrong key',
        () => rdioScannerForm(m4aPart(), { key: 'nope', dateTime: '1767448000' }),
        401,
        'Invalid API key for system 7 talkgroup 100.',
      ],
      [
        "a talkgroup outside the key's scope",
        () => rdioScannerForm(m4aPart(), { key: scopedKey, talkgroup: '999', dateTime: '1767448000' }),
        401,
        'Invalid API key for system 7 talkgroup 999.',
      ],
      [
        'corrupt audio',
        () =>
          rdioScannerForm(
            { bytes: new Uint8Array(4096).fill(7), fileName: 'call.m4a', contentType: 'audio/mp4' },
            { dateTime: '1767448000' },
          ),
        415,
        'Invalid audio file',
      ],
      [
        'an oversized file',
        () =>
          rdioScannerForm(
            { bytes: new Uint8Array(1024 * 1024 + 1), fileName: 'call.m4a', contentType: 'audio/mp4' },
            { dateTime: '1767448000' },
          ),
        413,
        'Call audio is larger than 1 MiB',
      ],
      [
        'a body that is not multipart',
        () => ({ raw: { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' } }),
        400,
        'Invalid content type',
      ],
      ['GET', () => ({ raw: { method: 'GET' } }), 405, 'Method not allowed'],
    ]
    for (const [what, make, status, text] of cases) {
      test(what, async () => {
        const before = (await history('?system=7&limit=500')).length
        const made = make()
        let reply: { status: number; text: string }
        if ('raw' in made) {
          const response = await fetch(`${server.url}/api/call-upload`, made.raw)
          reply = { status: response.status, text: await response.text() }
        } else reply = await upload(`${server.url}/api/call-upload`, made)
        expect(reply.status).toBe(status)
        expect(reply.text).toStartWith(text)
        expect((await history('?system=7&limit=500')).length).toBe(before)
      })
    }
  })
})

describe('POST /api/trunk-recorder-call-upload', () => {
  test("trunk-recorder's call JSON in `meta` is imported with its fields", async () => {
    const meta = {
      freq: 851_037_500,
      start_time: 1767449000,
      stop_time: 1767449004,
      emergency: 1,
      talkgroup: 200,
      talkgroup_tag: 'EMS Ops',
      talkgroup_group: 'EMS',
      talkgroup_description: 'EMS Operations',
      short_name: 'county',
      call_length: 4,
      srcList: [{ src: 555, time: 1767449000, pos: 0, emergency: 1, signal_system: '', tag: 'Medic 5' }],
      freqList: [{ freq: 851_037_500, time: 1767449000, pos: 0, len: 4, error_count: 1, spike_count: 0 }],
    }
    const reply = await upload(`${server.url}/api/trunk-recorder-call-upload`, [
      { name: 'audio', ...m4aPart() },
      { name: 'key', value: KEY },
      { name: 'system', value: '7' },
      { name: 'meta', value: JSON.stringify(meta) },
    ])
    expect(reply).toMatchObject({ status: 200, text: 'Call imported successfully.' })
    const [row] = await history('?system=7&emergency=true')
    expect(row).toMatchObject({
      talkgroup_id: 200,
      emergency: true,
      talkgroup_label: 'EMS Ops',
      talkgroup_group: 'EMS',
      talkgroup_name: 'EMS Operations',
      sources: [{ pos: 0, src: 555, tag: 'Medic 5', emergency: true }],
    })
    expect((await history('?source=555')).map((r) => r.transmission_id)).toEqual([row?.transmission_id])
    expect((await history('?q=medic')).map((r) => r.transmission_id)).toEqual([row?.transmission_id])
  })
})

describe('POST /openmhz/:shortName/upload', () => {
  const form = (over: Record<string, string> = {}, fileName = 'call.m4a'): FormPart[] => {
    const fields: Record<string, string> = {
      freq: '851012500',
      start_time: '1767450000',
      stop_time: '1767450004',
      call_length: '4',
      talkgroup_num: '42',
      emergency: '0',
      api_key: openMhzKey,
      source_list: '[{"pos": 0.0, "src": 4242}]',
      patch_list: '[]',
      error_count: '0',
      spike_count: '0',
      ...over,
    }
    return [
      { name: 'call', bytes: m4a, fileName, contentType: 'application/octet-stream' },
      ...Object.entries(fields).map(([name, value]) => ({ name, value })),
    ]
  }

  test('is imported on the system its short name stands for, with an empty 200', async () => {
    const reply = await upload(`${server.url}/openmhz/countyfire/upload`, form())
    expect(reply.status).toBe(200)
    expect(reply.text).toBe('')
    const [row] = await history('?system=9')
    expect(row).toMatchObject({ talkgroup_id: 42, radio_id: 4242, system: 9 })
  })

  test("failures carry OpenMHz's own texts", async () => {
    expect(await upload(`${server.url}/openmhz/nowhere/upload`, form())).toMatchObject({
      text: 'ShortName does not exist',
    })
    expect(
      await upload(`${server.url}/openmhz/countyfire/upload`, form({ api_key: KEY.repeat(2) })),
    ).toMatchObject({
      status: 403,
      text: 'API Keys do not match',
    })
    expect(await upload(`${server.url}/openmhz/countyfire/upload`, form({}, 'call.exe'))).toMatchObject({
      status: 400,
      text: 'Error, invalid filename',
    })
    expect((await history('?system=9')).length).toBe(1)
  })
})
