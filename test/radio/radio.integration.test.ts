import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { join } from 'node:path'
import { SILENCE_MS } from '../../actors/transmission.machine.ts'
import { classifyChunk } from '../../src/platform/native.ts'
import { type RunningServer, startServer } from '../support/server.ts'
import { tempDir } from '../support/tmp.ts'
import { b64, type ChunkBody, oggChunk, opusPackets, postChunk, SseClient } from './support.ts'

const KEY = 'test-ingest-key'
let server: RunningServer
let packets: Uint8Array[]
const clients: SseClient[] = []

const listen = async (query: string, headers: Record<string, string> = {}) => {
  const client = await SseClient.open(`${server.url}/api/v1/stream-listen${query}`, headers)
  clients.push(client)
  return client
}

const chunk = (sequence: number, over: ChunkBody = {}): ChunkBody => ({
  slot: 1,
  radio_id: 2222001,
  talkgroup_id: 1,
  chunk_data: b64(packets[Math.abs(sequence) % packets.length] as Uint8Array),
  sequence,
  ...over,
})

const waitForEnd = (client: SseClient, transmissionId: string) =>
  client.waitFor(
    (events) => events.some((e) => e.event === 'transmission_end' && e.data.includes(transmissionId)),
    SILENCE_MS + 5000,
  )

beforeAll(async () => {
  packets = opusPackets(30)
  server = await startServer({ INGEST_API_KEYS: `${KEY},second-key` })
})
afterAll(async () => {
  for (const client of clients) client.close()
  await server?.stop()
})

describe('POST /api/v1/stream-audio', () => {
  test('answers every documented field; size is the decoded Opus length', async () => {
    const reply = await postChunk(server.url, chunk(0, { slot: 2, timestamp: '2026-01-03T13:15:00' }))
    expect(reply.status).toBe(200)
    expect(reply.json).toEqual({
      success: true,
      data: {
        received: true,
        slot: 2,
        sequence: 0,
        size: (packets[0] as Uint8Array).byteLength,
        duplicate: false,
        transmission_id: 'r2222001_tg1_20260103131500',
      },
    })
  })

  test('the .php path and an Ogg Opus chunk (the document’s test.opus) are accepted too', async () => {
    const ogg = oggChunk()
    expect(classifyChunk(ogg).kind).toBe('ogg-opus')
    const reply = await postChunk(
      server.url,
      chunk(1, { slot: 2, chunk_data: b64(ogg) }),
      KEY,
      '/api/v1/stream-audio.php',
    )
    expect(reply.status).toBe(200)
    expect(reply.json.data).toMatchObject({ received: true, slot: 2, sequence: 1, size: ogg.byteLength })
  })

  test('bad input gets the right status in the radio shape, and loses nothing already received', async () => {
    const listener = await listen('?slot=1')
    await listener.waitFor((events) => events.some((e) => e.event === 'connected'))
    const good = async (sequence: number) =>
      expect((await postChunk(server.url, chunk(sequence, { radio_id: 42 }))).status).toBe(200)
    const bad = async (
      body: ChunkBody | string,
      status: number,
      error: string | RegExp,
      key: string | null = KEY,
    ) => {
      const reply = await postChunk(server.url, body, key)
      expect(reply.status).toBe(status)
      expect(reply.json.success).toBe(false)
      if (typeof error === 'string') expect(reply.json.error).toBe(error)
      else expect(reply.json.error).toMatch(error)
    }
    await good(0)
    await good(1)
    for (const field of ['slot', 'radio_id', 'talkgroup_id', 'chunk_data', 'sequence']) {
      const body = chunk(2, { radio_id: 42 })
      delete body[field]
      await bad(body, 400, `Missing required field: ${field}`)
    }
    await bad(chunk(2, { slot: 3 }), 400, 'Invalid slot: must be 1 or 2')
    await bad(chunk(2, { slot: '1' }), 400, 'Invalid slot: must be 1 or 2')
    await bad(chunk(2, { radio_id: 'abc' }), 400, /^Invalid field: radio_id must be an integer/)
    await bad(chunk(2, { talkgroup_id: 1.5 }), 400, /^Invalid field: talkgroup_id must be an integer/)
    await bad(chunk(-1), 400, /^Invalid field: sequence must be an integer from 0/)
    await bad(chunk(2, { chunk_data: 12 }), 400, 'Invalid field: chunk_data must be a base64 string')
    await bad(chunk(2, { chunk_data: 'not base64!!' }), 400, 'Invalid field: chunk_data is not valid base64')
    await bad(
      chunk(2, { timestamp: 'yesterday' }),
      400,
      'Invalid field: timestamp must be an ISO 8601 date-time',
    )
    await bad(chunk(2, { save_recording: 'yes' }), 400, 'Invalid field: save_recording must be true or false')
    await bad('{"slot": 1,', 400, 'Malformed JSON body')
    await bad('[1,2]', 400, 'Request body must be a JSON object')
    // Random bytes are often a legal Opus packet (NOTES.md); take the first that is not, deterministically.
    let seed = 7
    let noise = new Uint8Array(0)
    do {
      noise = Uint8Array.from({ length: 200 }, () => {
        seed = (seed * 1_103_515_245 + 12_345) >>> 0
        return seed >>> 24
      })
    } while (classifyChunk(noise).kind !== 'neither')
    await bad(
      chunk(2, { chunk_data: b64(noise) }),
      400,
      /^Invalid field: chunk_data is not Opus audio \(.+\)$/,
    )
    await bad(
      chunk(2, { chunk_data: 'x'.repeat(2 * 1024 * 1024) }),
      413,
      'Request body is larger than 262144 bytes',
    )
    await bad(chunk(2), 401, 'Invalid API key', 'wrong-key')
    await bad(chunk(2), 401, /^Missing API key/, null)
    await good(2)
    await listener.waitFor((events) => events.filter((e) => e.event === 'audio_chunk').length === 3)
    expect(listener.json('audio_chunk').map((c) => c.sequence)).toEqual([0, 1, 2])
    expect(listener.json('audio_chunk').map((c) => c.chunk)).toEqual(
      [0, 1, 2].map((s) => b64(packets[s] as Uint8Array)),
    )
  })

  test('other methods get 405 with Allow, in the radio shape', async () => {
    const res = await fetch(`${server.url}/api/v1/stream-audio`)
    expect(res.status).toBe(405)
    expect(res.headers.get('allow')).toBe('POST')
    expect(await res.json()).toMatchObject({ success: false, error: 'Method not allowed' })
    const put = await fetch(`${server.url}/api/v1/stream-listen?slot=1`, { method: 'PUT' })
    expect(put.status).toBe(405)
  })

  test('a repeated sequence is acknowledged and not re-broadcast', async () => {
    const listener = await listen('?slot=1')
    await listener.waitFor((events) => events.some((e) => e.event === 'connected'))
    const first = await postChunk(server.url, chunk(3, { radio_id: 42 }))
    const again = await postChunk(server.url, chunk(3, { radio_id: 42 }))
    expect(first.json.data).toMatchObject({ received: true, duplicate: false })
    expect(again.status).toBe(200)
    expect(again.json.data).toMatchObject({ received: true, sequence: 3, duplicate: true })
    await postChunk(server.url, chunk(4, { radio_id: 42 }))
    await listener.waitFor((events) => events.filter((e) => e.event === 'audio_chunk').length === 2)
    expect(listener.json('audio_chunk').map((c) => c.sequence)).toEqual([3, 4])
  })
})

describe('GET /api/v1/stream-listen', () => {
  test('every event field by field, each with an id; a late joiner first gets the transmission in progress', async () => {
    const early = await listen('?slot=2')
    await early.waitFor((events) => events.length >= 1)
    expect(early.status).toBe(200)
    expect(early.headers?.get('content-type')).toBe('text/event-stream; charset=utf-8')
    const connected = early.events[0]
    expect(connected?.event).toBe('connected')
    expect(JSON.parse(connected?.data ?? '')).toEqual({ slot: 2, message: 'Connected to slot 2' })

    const timestamp = '2026-02-01T10:00:00Z'
    await postChunk(server.url, chunk(0, { slot: 2, radio_id: 7, talkgroup_id: 9, timestamp }))
    await postChunk(server.url, chunk(1, { slot: 2, radio_id: 7, talkgroup_id: 9 }))
    const late = await listen('.php?slot=2')
    await late.waitFor((events) => events.some((e) => e.event === 'transmission_start'))
    await postChunk(server.url, chunk(2, { slot: 2, radio_id: 7, talkgroup_id: 9 }))
    const transmissionId = 'r7_tg9_20260201100000'
    await waitForEnd(early, transmissionId)
    await waitForEnd(late, transmissionId)

    const start = { transmission_id: transmissionId, slot: 2, radio_id: 7, talkgroup_id: 9, timestamp }
    expect(early.json('transmission_start').at(-1)).toEqual(start)
    const audio = early.json('audio_chunk').filter((c) => c.transmission_id === transmissionId)
    expect(audio).toEqual(
      [0, 1, 2].map((sequence) => ({
        sequence,
        chunk: b64(packets[sequence] as Uint8Array),
        size: (packets[sequence] as Uint8Array).byteLength,
        transmission_id: transmissionId,
        format: 'opus-packet',
        duration_ms: 100,
      })),
    )
    expect(early.json('transmission_end').at(-1)).toEqual({ transmission_id: transmissionId })

    expect(late.events.map((e) => e.event)).toEqual([
      'connected',
      'transmission_start',
      'audio_chunk',
      'transmission_end',
    ])
    expect(late.json('transmission_start')[0]).toEqual(start)
    expect(late.json('audio_chunk')[0]?.sequence).toBe(2)

    for (const client of [early, late]) {
      const ids = client.events.map((e) => Number(e.id))
      expect(ids.every((id) => Number.isSafeInteger(id) && id > 0)).toBe(true)
      expect([...ids].sort((a, b) => a - b)).toEqual(ids)
    }
  })

  test('an invalid slot gets the documented error event, then the stream ends', async () => {
    const client = await listen('?slot=3')
    await client.waitFor(() => client.closed)
    expect(client.events).toEqual([{ id: '0', event: 'error', data: '{"error":"Invalid slot"}' }])
  })

  test('a reconnect with Last-Event-ID replays exactly what it missed', async () => {
    const first = await listen('?slot=1')
    await postChunk(server.url, chunk(10, { radio_id: 55 }))
    await first.waitFor((events) => events.some((e) => e.event === 'audio_chunk'))
    const resumeFrom = first.lastId as string
    first.close()
    for (let s = 11; s <= 15; s++) await postChunk(server.url, chunk(s, { radio_id: 55 }))
    await postChunk(server.url, chunk(16, { radio_id: 56 })) // ends r55's transmission, starts r56's
    const resumed = await listen('?slot=1', { 'Last-Event-ID': resumeFrom })
    await resumed.waitFor((events) => events.filter((e) => e.event === 'audio_chunk').length === 6)
    expect(resumed.events.map((e) => e.event)).toEqual([
      'connected',
      ...Array(5).fill('audio_chunk'),
      'transmission_end',
      'transmission_start',
      'audio_chunk',
    ])
    expect(resumed.events[0]?.id).toBe(resumeFrom)
    expect(resumed.json('audio_chunk').map((c) => c.sequence)).toEqual([11, 12, 13, 14, 15, 16])
    const ids = resumed.events.slice(1).map((e) => Number(e.id))
    expect(ids).toEqual(ids.map((_, i) => Number(resumeFrom) + 1 + i))
  })
})

describe('recordings and history', () => {
  test('a saved transmission round-trips as Ogg Opus (ffprobe) with Range, and appears in the history', async () => {
    const count = 20
    for (let s = 0; s < count; s++) {
      const reply = await postChunk(
        server.url,
        chunk(s, {
          slot: 2,
          radio_id: 31,
          talkgroup_id: 4,
          timestamp: '2026-03-01T08:00:00',
          save_recording: s === 0,
        }),
      )
      expect(reply.status).toBe(200)
    }
    const id = 'r31_tg4_20260301080000'
    const deadline = Date.now() + SILENCE_MS + 10_000
    let item: Record<string, unknown> | undefined
    while (!item && Date.now() < deadline) {
      await Bun.sleep(250)
      const list = (await (await fetch(`${server.url}/api/v1/transmissions?radio_id=31`)).json()) as {
        data: Record<string, unknown>[]
      }
      item = list.data[0]
    }
    expect(item).toMatchObject({
      transmission_id: id,
      slot: 2,
      radio_id: 31,
      talkgroup_id: 4,
      started_at: '2026-03-01T08:00:00.000Z',
      duration: 2,
      chunk_count: count,
    })
    expect(Date.parse(item?.ended_at as string)).toBeGreaterThanOrEqual(Date.parse('2026-03-01T08:00:00Z'))
    expect(item?.recording_url).toEndWith(`/api/v1/transmissions/${id}/recording`)

    const res = await fetch(`${server.url}/api/v1/transmissions/${id}/recording`)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe('audio/ogg')
    expect(res.headers.get('accept-ranges')).toBe('bytes')
    const file = new Uint8Array(await res.arrayBuffer())
    const dir = tempDir()
    const path = join(dir.path, 'rec.ogg')
    await Bun.write(path, file)
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
    const info = JSON.parse(probe.stdout.toString()) as {
      format: { duration: string }
      streams: { codec_name: string }[]
    }
    dir.remove()
    expect(info.streams[0]?.codec_name).toBe('opus')
    expect(Math.abs(Number(info.format.duration) - count * 0.1)).toBeLessThan(0.1)

    const ranged = await fetch(`${server.url}/api/v1/transmissions/${id}/recording`, {
      headers: { Range: 'bytes=0-3' },
    })
    expect(ranged.status).toBe(206)
    expect(ranged.headers.get('content-range')).toBe(`bytes 0-3/${file.byteLength}`)
    expect(await ranged.text()).toBe('OggS')
  }, 30_000)

  test('history filters, newest first, and errors in the radio shape', async () => {
    const list = async (query: string) => {
      const res = await fetch(`${server.url}/api/v1/transmissions${query}`)
      return {
        status: res.status,
        json: (await res.json()) as { success: boolean; data: Record<string, unknown>[]; error?: string },
      }
    }
    const all = await list('')
    expect(all.status).toBe(200)
    expect(all.json.success).toBe(true)
    const started = all.json.data.map((t) => Date.parse(t.started_at as string))
    expect([...started].sort((a, b) => b - a)).toEqual(started)
    expect(all.json.data.length).toBeGreaterThanOrEqual(5)
    const notSaved = all.json.data.find((t) => t.transmission_id === 'r7_tg9_20260201100000')
    expect(notSaved).toBeDefined()
    expect(notSaved).not.toHaveProperty('recording_url')

    expect((await list('?slot=2')).json.data.every((t) => t.slot === 2)).toBe(true)
    expect((await list('?slot=1')).json.data.every((t) => t.slot === 1)).toBe(true)
    expect((await list('?radio_id=7')).json.data.map((t) => t.transmission_id)).toEqual([
      'r7_tg9_20260201100000',
    ])
    expect((await list('?talkgroup_id=4')).json.data.map((t) => t.transmission_id)).toEqual([
      'r31_tg4_20260301080000',
    ])
    const window = await list('?from=2026-01-15T00:00:00Z&to=2026-02-15T00:00:00Z')
    expect(window.json.data.map((t) => t.transmission_id)).toEqual(['r7_tg9_20260201100000'])
    expect((await list('?limit=2')).json.data).toHaveLength(2)

    const badSlot = await list('?slot=3')
    expect(badSlot.status).toBe(400)
    expect(badSlot.json).toMatchObject({
      success: false,
      error: 'Invalid slot: must be an integer from 1 to 2',
    })
    const badDate = await list('?from=last-week')
    expect(badDate.status).toBe(400)
    expect(badDate.json.error).toBe('Invalid from: must be an ISO 8601 date-time')
    expect((await list('?limit=0')).status).toBe(400)

    const missing = await fetch(`${server.url}/api/v1/transmissions/r1_tg1_20000101000000/recording`)
    expect(missing.status).toBe(404)
    expect(await missing.json()).toMatchObject({ success: false, error: 'Transmission not found' })
    const unsaved = await fetch(`${server.url}/api/v1/transmissions/r7_tg9_20260201100000/recording`)
    expect(unsaved.status).toBe(404)
    expect(await unsaved.json()).toMatchObject({
      success: false,
      error: 'This transmission was not recorded',
    })
  })
})

describe('limits from the environment', () => {
  let limited: RunningServer
  beforeAll(async () => {
    limited = await startServer({ INGEST_API_KEYS: KEY, INGEST_RATE_LIMIT: '3', LISTEN_TIMEOUT_S: '1' })
  })
  afterAll(() => limited?.stop())

  test('past INGEST_RATE_LIMIT requests a minute per IP: 429 with Retry-After', async () => {
    for (let s = 0; s < 3; s++) expect((await postChunk(limited.url, chunk(s))).status).toBe(200)
    const refused = await postChunk(limited.url, chunk(3))
    expect(refused.status).toBe(429)
    expect(refused.json).toMatchObject({ success: false, error: 'Rate limit exceeded' })
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0)
  })

  test('after LISTEN_TIMEOUT_S a listener gets timeout and the stream closes', async () => {
    const client = await SseClient.open(`${limited.url}/api/v1/stream-listen?slot=1`)
    await client.waitFor(() => client.closed, 5000)
    expect(client.events[0]?.event).toBe('connected')
    expect(client.events.at(-1)).toMatchObject({ event: 'timeout', data: '{"message":"Connection timeout"}' })
    expect(client.events.at(-1)?.id).toBeDefined()
  })
})
