import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { join } from 'node:path'
import { LL_PART_TARGET_SECONDS } from '../../src/livestream/service.ts'
import { type LlPlaylist, parseLlPlaylist, partNumber } from '../support/ll-playlist.ts'
import { type RunningServer, startServer } from '../support/server.ts'
import { tempDir } from '../support/tmp.ts'
import { until } from '../support/until.ts'
import { chunkWebm, makeWebm, probe, type WebmChunk } from '../support/webm.ts'
import { childProcesses, WsClient } from '../support/ws-client.ts'

let server: RunningServer
/** 100 ms chunks, as the broadcaster page's MediaRecorder sends them. */
let chunks: WebmChunk[]
let alice: string
const clients: WsClient[] = []

beforeAll(async () => {
  const [started, webm] = await Promise.all([
    startServer({
      LIVESTREAM_GRACE_S: '5',
      LIVESTREAM_MAX_RESTARTS: '2',
      LIVESTREAM_HTTP_STATUS_PER_MIN: '10000',
      LIVESTREAM_HTTP_STREAM_PER_MIN: '100000',
      LIVESTREAM_CONNECTIONS_PER_MIN: '1000',
    }),
    makeWebm({ seconds: 16 }),
  ])
  server = started
  chunks = chunkWebm(webm, 100)
  alice = await server.token('alice')
  // Booting the server and making the WebM with FFmpeg can take a while on a busy 2-core machine.
}, 120_000)
afterAll(async () => {
  for (const c of clients) c.close()
  await server?.stop()
})

async function broadcast(streamKey: string): Promise<WsClient> {
  const client = await WsClient.open(server.url, { token: alice })
  clients.push(client)
  await client.request('start-stream', { streamKey }, 'stream-started')
  return client
}

/** Sends chunks as binary frames in real time (100 ms apart). */
async function feed(client: WsClient, list: WebmChunk[]): Promise<void> {
  const start = performance.now()
  for (const [i, chunk] of list.entries()) {
    await Bun.sleep(Math.max(0, start + i * 100 - performance.now()))
    client.sendBinary(chunk.bytes)
  }
}

const url = (key: string, file: string) => `${server.url}/livestream/${key}/${file}`

async function playlist(key: string, query = ''): Promise<LlPlaylist> {
  const response = await fetch(`${url(key, 'll.m3u8')}${query}`)
  if (response.status !== 200) throw new Error(`ll.m3u8 answered ${response.status}`)
  return parseLlPlaylist(await response.text())
}

/** Where the next part will be listed: the open segment's next index (or the next segment's first part). */
function next(list: LlPlaylist): { msn: number; part: number; number: number } {
  const last = list.segments.at(-1)
  if (!last) throw new Error('empty playlist')
  const position =
    last.uri === null ? { msn: last.msn, part: last.parts.length } : { msn: last.msn + 1, part: 0 }
  return { ...position, number: partNumber(list.hint as string) }
}

/** The invariants every LL playlist keeps. */
function checkInvariants(list: LlPlaylist): void {
  expect(list.version).toBeGreaterThanOrEqual(9)
  expect(list.canBlockReload).toBe(true)
  expect(list.partTarget).toBe(LL_PART_TARGET_SECONDS)
  expect(list.partHoldBack).toBeGreaterThanOrEqual(2 * list.partTarget)
  const numbers: number[] = []
  for (const [i, segment] of list.segments.entries()) {
    expect(segment.msn).toBe(list.mediaSequence + i)
    expect(segment.map).toMatch(/^init_\d+\.mp4$/)
    expect(segment.programDateTime).toBeGreaterThan(0)
    for (const part of segment.parts) {
      expect(part.duration).toBeGreaterThan(0)
      expect(part.duration).toBeLessThanOrEqual(list.partTarget)
      numbers.push(partNumber(part.uri))
    }
    // A segment is its parts: the first is independent, and its duration is their sum.
    if (segment.parts.length > 0) expect(segment.parts[0]?.independent).toBe(true)
    if (segment.parts.length > 0 && segment.duration !== null) {
      expect(segment.duration).toBeCloseTo(
        segment.parts.reduce((sum, p) => sum + p.duration, 0),
        2,
      )
    }
    if (segment.duration !== null)
      expect(Math.round(segment.duration)).toBeLessThanOrEqual(list.targetDuration)
  }
  // Part numbers run on without gaps, and the hint names the one after the last.
  for (let i = 1; i < numbers.length; i++) expect(numbers[i]).toBe((numbers[i - 1] as number) + 1)
  if (!list.ended) expect(partNumber(list.hint as string)).toBe((numbers.at(-1) as number) + 1)
  else expect(list.hint).toBeUndefined()
}

describe('LL-HLS from a live stream with real FFmpeg', () => {
  let broadcaster: WsClient
  let feeding: Promise<void>

  beforeAll(async () => {
    broadcaster = await broadcast('ll')
    // Chromium's MediaRecorder sometimes hands over the first byte of the WebM header as a chunk of its own;
    // the rest of the header may be split too.
    const [first] = chunks as [WebmChunk]
    broadcaster.sendBinary(first.bytes.subarray(0, 1))
    broadcaster.sendBinary(first.bytes.subarray(1, 30))
    feeding = feed(broadcaster, [{ ...first, bytes: first.bytes.subarray(30) }, ...chunks.slice(1, 90)])
    await until(
      () => fetch(url('ll', 'll.m3u8')).then(async (r) => (r.ok ? parseLlPlaylist(await r.text()) : null)),
      (list) => (list?.segments.filter((s) => s.uri !== null).length ?? 0) >= 1,
      20_000,
    )
  }, 30_000)

  test('ll.m3u8: version 9, blocking reload, parts, map, program date time, preload hint; headers as stream.m3u8', async () => {
    const response = await fetch(url('ll', 'll.m3u8?session=ll-viewer'))
    expect(response.status).toBe(200)
    expect(response.headers.get('content-type')).toBe('application/vnd.apple.mpegurl')
    expect(response.headers.get('cache-control')).toBe('no-cache')
    expect(response.headers.get('access-control-allow-origin')).toBe('*')
    const text = await response.text()
    for (const tag of [
      '#EXT-X-VERSION:9',
      '#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=',
      `#EXT-X-PART-INF:PART-TARGET=${LL_PART_TARGET_SECONDS.toFixed(3)}`,
      '#EXT-X-MAP:URI="init_0.mp4"',
      '#EXT-X-PROGRAM-DATE-TIME:',
      '#EXT-X-PART:DURATION=',
      ',INDEPENDENT=YES',
      '#EXT-X-PRELOAD-HINT:TYPE=PART,URI="part_',
    ])
      expect(text).toContain(tag)
    const list = parseLlPlaylist(text)
    checkInvariants(list)
    // The program date time runs with the wall clock: the live edge is a second or two old at most.
    const last = list.segments.at(-1)
    expect(Math.abs(Date.now() - (last?.programDateTime as number))).toBeLessThan(5000)
    // An HLS player on ll.m3u8 counts as a viewer, as on stream.m3u8.
    const status = await (await fetch(url('ll', 'status'))).json()
    expect(status.local.streamData.viewers).toBe(1)
    // Checked before toMatchObject, whose asymmetric matchers Bun writes into the object it is given.
    expect(status.local.lowLatency.parts).toBeGreaterThan(5)
    const debug = await (
      await fetch(url('ll', 'debug'), {
        headers: { Authorization: `Bearer ${await server.token('root', { role: 'admin' })}` },
      })
    ).json()
    expect(debug.lowLatency.manifestContent.startsWith('#EXTM3U\n#EXT-X-VERSION:9\n')).toBe(true)
    expect(debug.lowLatency.partList.length).toBeGreaterThan(5)
    expect(debug.lowLatency.partList[0]).toEqual({
      msn: expect.any(Number),
      index: expect.any(Number),
      number: expect.any(Number),
      duration: expect.any(Number),
      independent: expect.any(Boolean),
      bytes: expect.any(Number),
    })
    expect(status.local.lowLatency).toMatchObject({
      playlist: 'll.m3u8',
      partTarget: LL_PART_TARGET_SECONDS,
      parts: expect.any(Number),
      lastPart: { number: expect.any(Number), duration: expect.any(Number) },
    })
  })

  test('init, part and segment: immutable, CORS, and ffprobe reads init + a part as H.264 + AAC', async () => {
    const list = await playlist('ll')
    const segment = list.segments.find((s) => s.uri !== null && s.parts.length > 0)
    expect(segment).toBeDefined()
    const get = async (file: string) => {
      const response = await fetch(url('ll', file))
      expect(response.status).toBe(200)
      expect(response.headers.get('content-type')).toBe('video/mp4')
      expect(response.headers.get('cache-control')).toBe('public, max-age=3600, immutable')
      expect(response.headers.get('access-control-allow-origin')).toBe('*')
      return new Uint8Array(await response.arrayBuffer())
    }
    const init = await get(segment?.map as string)
    const parts = await Promise.all((segment?.parts ?? []).map((p) => get(p.uri)))
    const whole = await get(segment?.uri as string)
    // The segment is exactly its parts.
    expect(Buffer.from(whole).equals(Buffer.concat(parts))).toBe(true)
    const head = await fetch(url('ll', segment?.parts[0]?.uri as string), { method: 'HEAD' })
    expect(head.headers.get('content-length')).toBe(String(parts[0]?.byteLength))

    const dir = tempDir('airwave-ll-probe-')
    const file = join(dir.path, 'part.mp4')
    await Bun.write(file, Buffer.concat([init, parts[0] as Uint8Array]))
    const probed = await probe(file)
    dir.remove()
    expect(probed.codecs).toEqual(['aac', 'h264'])
    expect(probed.duration).toBeGreaterThan(0.1)
    expect(probed.duration).toBeLessThan(0.5)

    for (const missing of ['part_99999.m4s', 'seg_99999.m4s', 'init_7.mp4', 'part_x.m4s'])
      expect((await fetch(url('ll', missing))).status).toBe(404)
  })

  test('a blocking reload returns within one part duration of the part being cut, and not before', async () => {
    for (let round = 0; round < 3; round++) {
      const list = await playlist('ll')
      const wanted = next(list)
      const uri = `part_${wanted.number}.m4s`
      const started = performance.now()
      // The answer's time is when its headers arrive: the server answers once the part is listed.
      const blocking = fetch(url('ll', `ll.m3u8?_HLS_msn=${wanted.msn}&_HLS_part=${wanted.part}`)).then(
        async (r) => {
          const at = performance.now()
          return { status: r.status, text: await r.text(), at }
        },
      )
      // Meanwhile, see when the part is cut by polling the playlist without blocking.
      let seenAt = Number.POSITIVE_INFINITY
      while (seenAt === Number.POSITIVE_INFINITY && performance.now() - started < 5000) {
        if ((await (await fetch(url('ll', 'll.m3u8'))).text()).includes(`"${uri}"`))
          seenAt = performance.now()
        else await Bun.sleep(5)
      }
      const answer = await blocking
      expect(answer.status).toBe(200)
      // Not before: the answer lists the part it waited for.
      expect(answer.text).toContain(`URI="${uri}"`)
      checkInvariants(parseLlPlaylist(answer.text))
      expect(answer.at - seenAt).toBeLessThan(LL_PART_TARGET_SECONDS * 1000)
    }
  })

  test('the preload-hinted part is held until its bytes exist', async () => {
    const list = await playlist('ll')
    const hinted = list.hint as string
    expect(
      (
        await fetch(
          url(
            'll',
            hinted.replace(/\d+/, (n) => String(Number(n) + 1)),
          ),
        )
      ).status,
    ).toBe(404)
    const response = await fetch(url('ll', hinted))
    expect(response.status).toBe(200)
    const bytes = Buffer.from(await response.arrayBuffer())
    expect(bytes.subarray(4, 8).toString()).toBe('moof')
    expect(Buffer.from(await (await fetch(url('ll', hinted))).arrayBuffer()).equals(bytes)).toBe(true)
  })

  test('400 for malformed or far-future directives; 503 after three target durations when no part comes', async () => {
    const list = await playlist('ll')
    const last = list.segments.at(-1)?.msn as number
    for (const query of [
      '_HLS_msn=abc',
      '_HLS_part=1',
      '_HLS_msn=-1',
      `_HLS_msn=${last + 3}`,
      '_HLS_msn=1.5',
    ]) {
      const response = await fetch(url('ll', `ll.m3u8?${query}`))
      expect(response.status).toBe(400)
      expect(await response.json()).toMatchObject({ status: 'error', message: expect.any(String) })
    }
    await feeding
    await Bun.sleep(1500)
    // The broadcaster is silent: the next part never comes.
    const stalled = await playlist('ll')
    const wanted = next(stalled)
    const started = performance.now()
    const response = await fetch(url('ll', `ll.m3u8?_HLS_msn=${wanted.msn}&_HLS_part=${wanted.part}`))
    const waited = performance.now() - started
    expect(response.status).toBe(503)
    expect(response.headers.get('retry-after')).toBe('1')
    expect(waited).toBeGreaterThan(3 * stalled.targetDuration * 1000 - 200)
    expect(waited).toBeLessThan(3 * stalled.targetDuration * 1000 + 2000)
  }, 20_000)

  test('the end releases waiting requests with EXT-X-ENDLIST; the ended playlist decodes with FFmpeg as an HLS client', async () => {
    const list = await playlist('ll')
    const far = (list.segments.at(-1)?.msn as number) + 2
    const waiting = fetch(url('ll', `ll.m3u8?_HLS_msn=${far}&_HLS_part=0`))
    const hinted = fetch(url('ll', list.hint as string))
    await Bun.sleep(200)
    const started = performance.now()
    await broadcaster.request('end-stream', { streamKey: 'll' }, 'stream-ended', 15_000)
    const released = await waiting
    expect(performance.now() - started).toBeLessThan(5000)
    expect(released.status).toBe(200)
    const final = parseLlPlaylist(await released.text())
    expect(final.ended).toBe(true)
    checkInvariants(final)
    // FFmpeg flushed its last fragment before it exited: the hinted part came, or the stream ended without it.
    expect([200, 404]).toContain((await hinted).status)
    // After the end a blocking request is answered at once.
    const afterEnd = await fetch(url('ll', `ll.m3u8?_HLS_msn=${far - 1}&_HLS_part=0`))
    expect(afterEnd.status).toBe(200)
    expect(await afterEnd.text()).toContain('#EXT-X-ENDLIST')

    const client = Bun.spawn(
      ['ffmpeg', '-v', 'error', '-i', url('ll', 'll.m3u8'), '-map', '0', '-f', 'null', '-'],
      {
        stdout: 'pipe',
        stderr: 'pipe',
      },
    )
    const [errors, code] = await Promise.all([new Response(client.stderr).text(), client.exited])
    expect(errors).toBe('')
    expect(code).toBe(0)
    const probe = Bun.spawn(
      [
        'ffprobe',
        '-v',
        'error',
        '-show_entries',
        'stream=codec_name',
        '-of',
        'csv=p=0',
        url('ll', 'll.m3u8'),
      ],
      { stdout: 'pipe', stderr: 'pipe' },
    )
    const codecs = (await new Response(probe.stdout).text()).split('\n').filter((c) => c !== '')
    expect([...new Set(codecs)].sort()).toEqual(['aac', 'h264'])
  }, 30_000)
})

test('killing FFmpeg: the LL playlist goes on after EXT-X-DISCONTINUITY with a new EXT-X-MAP', async () => {
  const broadcaster = await broadcast('ll-crash')
  await feed(broadcaster, chunks.slice(0, 40))
  const before = (await until(
    () => playlist('ll-crash').catch(() => null),
    (list) => (list?.segments.length ?? 0) >= 1,
    15_000,
  )) as LlPlaylist
  const [ffmpeg] = childProcesses(server.process.pid).filter(
    (p) => p.name === 'ffmpeg' && p.cmdline.includes('/livestream/ll-crash/'),
  )
  expect(ffmpeg).toBeDefined()
  process.kill(ffmpeg?.pid as number, 'SIGKILL')
  await broadcaster.next((f) => f.event === 'stream-error', 10_000)
  await feed(broadcaster, chunks.slice(40, 100))
  const text = await until(
    () => fetch(url('ll-crash', 'll.m3u8')).then((r) => r.text()),
    (t) => parseLlPlaylist(t).segments.some((s) => s.discontinuity && s.parts.length > 1),
    15_000,
  )
  const after = parseLlPlaylist(text)
  checkInvariants(after)
  const resumed = after.segments.find((s) => s.discontinuity) as (typeof after.segments)[number]
  expect(resumed.map).toBe('init_1.mp4')
  expect(text).toContain('#EXT-X-DISCONTINUITY\n#EXT-X-MAP:URI="init_1.mp4"')
  expect(after.mediaSequence).toBeGreaterThanOrEqual(before.mediaSequence)
  expect(resumed.programDateTime).toBeGreaterThanOrEqual(before.segments[0]?.programDateTime as number)
  expect((await fetch(url('ll-crash', 'init_1.mp4'))).status).toBe(200)
  await broadcaster.request('end-stream', { streamKey: 'll-crash' }, 'stream-ended', 15_000)
}, 60_000)
