import { expect, test } from 'bun:test'
import { LlStreams, LlUnavailableError } from '../../src/livestream/ll-streams.ts'
import { livestreamMetrics } from '../../src/livestream/metrics.ts'
import { BadRequestError, NotFoundError } from '../../src/platform/errors.ts'
import { parseLlPlaylist } from '../support/ll-playlist.ts'
import { avInit, avPart } from '../support/mp4.ts'

/** 1 s segments: a blocking request gives up after 3 s. */
function streams(maxWaiters = 10) {
  const ll = new LlStreams({
    segmentSeconds: 1,
    partTarget: 0.234,
    windowSegments: 4,
    maxWaiters,
    endedTtlMs: 50,
  })
  const packager = ll.open('s')
  packager.beginRun(1, Date.now())
  packager.push(1, avInit())
  let next = 0
  /** Parts of 200 ms, a keyframe every 5 (one 1 s segment per GOP). */
  const feed = (n: number) => {
    for (let i = 0; i < n; i++, next++) packager.push(1, avPart(next, next % 5 === 0))
  }
  return { ll, packager, feed }
}

const never = new AbortController().signal

/** How many blocking requests got 503 for `reason`, per the metric. */
const refused = async (reason: string) =>
  (await livestreamMetrics.llRefused.get()).values.find((v) => v.labels.reason === reason)?.value ?? 0

test('a playlist request without directives answers at once; 404 before the first part and for unknown streams', async () => {
  const { ll, feed } = streams()
  await expect(ll.playlist('s', {}, never)).rejects.toBeInstanceOf(NotFoundError)
  await expect(ll.playlist('other', {}, never)).rejects.toBeInstanceOf(NotFoundError)
  feed(7)
  const list = parseLlPlaylist(await ll.playlist('s', {}, never))
  expect(list.segments.map((s) => [s.msn, s.parts.length])).toEqual([
    [0, 5],
    [1, 2],
  ])
  expect(list.hint).toBe('part_7.m4s')
})

test('malformed directives and MSNs more than two beyond the last segment are 400', async () => {
  const { ll, feed } = streams()
  feed(7)
  for (const query of [
    { _HLS_msn: 'x' },
    { _HLS_part: '0' },
    { _HLS_msn: '1', _HLS_part: '-1' },
    { _HLS_msn: '4' },
  ])
    await expect(ll.playlist('s', query, never)).rejects.toBeInstanceOf(BadRequestError)
  // Two beyond is allowed: it waits (here the client leaves after 20 ms and is given the playlist as it is).
  const waiting = ll.playlist('s', { _HLS_msn: '3' }, AbortSignal.timeout(20))
  expect(await waiting).toContain('#EXTM3U')
})

test('a blocking reload is answered when its part is cut, not before, and 503 after three target durations', async () => {
  const { ll, feed } = streams()
  feed(7)
  let answered: string | undefined
  const waiting = ll.playlist('s', { _HLS_msn: '1', _HLS_part: '2' }, never).then((text) => {
    answered = text
  })
  await Bun.sleep(20)
  expect(answered).toBeUndefined()
  feed(1)
  await waiting
  expect(answered).toContain('URI="part_7.m4s"')
  // Already there: at once.
  expect(await ll.playlist('s', { _HLS_msn: '0' }, never)).toContain('seg_0.m4s')

  const before = await refused('timeout')
  const started = performance.now()
  const timedOut = await ll.playlist('s', { _HLS_msn: '2', _HLS_part: '0' }, never).catch((err) => err)
  expect(timedOut).toBeInstanceOf(LlUnavailableError)
  expect(timedOut).toMatchObject({ status: 503, code: 'PLAYLIST_TIMEOUT', headers: { 'Retry-After': '1' } })
  expect(performance.now() - started).toBeGreaterThanOrEqual(2990)
  expect(await refused('timeout')).toBe(before + 1)
}, 10_000)

test('waiting requests are bounded per stream: past the bound, 503 at once', async () => {
  const { ll, packager, feed } = streams(2)
  feed(3)
  const left = new AbortController()
  const first = ll.playlist('s', { _HLS_msn: '0', _HLS_part: '3' }, left.signal)
  const second = ll.resource('s', 'part_3.m4s', never)
  expect(packager.waiting).toBe(2)
  const before = await refused('busy')
  await expect(ll.playlist('s', { _HLS_msn: '0', _HLS_part: '3' }, never)).rejects.toMatchObject({
    status: 503,
    code: 'TOO_MANY_WAITING',
  })
  expect(await refused('busy')).toBe(before + 1)
  // A client that leaves frees its place at once.
  left.abort()
  await first
  expect(packager.waiting).toBe(1)
  feed(1)
  expect((await second).size).toBeGreaterThan(0)
})

test('the preload-hinted part waits for its bytes; other missing parts, segments and inits are 404', async () => {
  const { ll, feed } = streams()
  feed(6)
  let got: Blob | undefined
  const hinted = ll.resource('s', 'part_6.m4s', never).then((bytes) => {
    got = bytes
  })
  await Bun.sleep(20)
  expect(got).toBeUndefined()
  feed(1)
  await hinted
  expect(Buffer.from(await (got as Blob).arrayBuffer()).equals(Buffer.from(avPart(6, false)))).toBe(true)
  for (const file of ['part_9.m4s', 'seg_1.m4s', 'init_1.mp4', 'part_1.mp4', 'stream.m3u8'])
    await expect(ll.resource('s', file, never)).rejects.toBeInstanceOf(NotFoundError)
  const segment = await ll.resource('s', 'seg_0.m4s', never)
  expect(segment.size).toBe([0, 1, 2, 3, 4].reduce((n, i) => n + avPart(i, i === 0).byteLength, 0))
  expect((await ll.resource('s', 'init_0.mp4', never)).size).toBe(avInit().byteLength)
})

test('the end answers every waiting request with the final playlist (or 404 for a part), then the stream goes', async () => {
  const { ll, feed } = streams()
  feed(3)
  const playlist = ll.playlist('s', { _HLS_msn: '2', _HLS_part: '0' }, never)
  const part = ll.resource('s', 'part_3.m4s', never)
  ll.close('s')
  const final = await playlist
  expect(final.trimEnd().endsWith('#EXT-X-ENDLIST')).toBe(true)
  expect(final).not.toContain('PRELOAD-HINT')
  await expect(part).rejects.toBeInstanceOf(NotFoundError)
  expect(ll.summary('s')).toMatchObject({ ended: true, waiting: 0 })
  await Bun.sleep(80)
  expect(ll.summary('s')).toBeNull()
  await expect(ll.playlist('s', {}, never)).rejects.toBeInstanceOf(NotFoundError)
})

test('a new stream under the same key replaces the old packager and releases its waits', async () => {
  const { ll, feed } = streams()
  feed(2)
  const waiting = ll.playlist('s', { _HLS_msn: '1', _HLS_part: '0' }, never)
  ll.open('s')
  expect(parseLlPlaylist(await waiting).ended).toBe(true)
  await expect(ll.playlist('s', {}, never)).rejects.toBeInstanceOf(NotFoundError)
})
