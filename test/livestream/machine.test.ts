import { describe, expect, test } from 'bun:test'
import { createActor, fromCallback, SimulatedClock } from 'xstate'
import {
  type LivestreamCarryOver,
  type LivestreamEmitted,
  type LivestreamSettings,
  livestreamMachine,
  MediaBytes,
  type TranscoderCommand,
  type TranscoderEvent,
  type TranscoderInput,
} from '../../actors/livestream.machine.ts'

const SETTINGS: LivestreamSettings = {
  segmentSeconds: 2,
  maxRestarts: 2,
  graceMs: 10_000,
  endTimeoutMs: 3000,
  hlsSessionTtlMs: 15_000,
  maxViewers: 3,
}

interface FakeFfmpeg {
  input: TranscoderInput
  writes: number[]
  finished: boolean
  stopped: boolean
  send(event: TranscoderEvent): void
}

const INIT = new MediaBytes(Uint8Array.of(0x1a, 0x45, 0xdf, 0xa3))
const header = (size = 100) => ({
  type: 'media.chunk' as const,
  chunk: new MediaBytes(new Uint8Array(size)),
  init: INIT,
})
const chunk = (size = 50) => ({
  type: 'media.chunk' as const,
  chunk: new MediaBytes(new Uint8Array(size)),
  init: null,
})

/** A livestream actor with a fake FFmpeg child per run and a simulated clock. */
function setup(
  options: {
    broadcaster?: string | null
    settings?: Partial<LivestreamSettings>
    carryOver?: LivestreamCarryOver
  } = {},
) {
  const clock = new SimulatedClock()
  const runs: FakeFfmpeg[] = []
  const transcoder = fromCallback<TranscoderCommand, TranscoderInput, TranscoderEvent>(
    ({ input, sendBack, receive }) => {
      const fake: FakeFfmpeg = { input, writes: [], finished: false, stopped: false, send: sendBack }
      runs.push(fake)
      receive((command) => {
        if (command.type === 'write') fake.writes.push(command.chunk.bytes.byteLength)
        else fake.finished = true
      })
      return () => {
        fake.stopped = true
      }
    },
  )
  const actor = createActor(livestreamMachine.provide({ actors: { transcoder } }), {
    clock,
    input: {
      streamKey: 'k1',
      ownerId: 'alice',
      broadcaster: options.broadcaster === undefined ? 'sock-b' : options.broadcaster,
      startedAt: '2024-01-01T00:00:00.000Z',
      settings: { ...SETTINGS, ...options.settings },
      carryOver: options.carryOver,
    },
  })
  const emitted: LivestreamEmitted[] = []
  actor.on('*', (event) => emitted.push(event))
  actor.start()
  const notes = (event: string) =>
    emitted.filter((e) => e.type === 'notify' && e.event === event) as Array<
      Extract<LivestreamEmitted, { type: 'notify' }>
    >
  const current = () => runs.at(-1) as FakeFfmpeg
  const segment = (n: number, duration = 2) =>
    current().send({ type: 'ffmpeg.segment', run: current().input.run, number: n, duration })
  return { actor, clock, runs, emitted, notes, current, segment, state: () => actor.getSnapshot().value }
}

describe('livestream machine: FFmpeg lifecycle', () => {
  test('starts FFmpeg on the first chunk carrying the WebM header and forwards chunks in order', () => {
    const s = setup()
    expect(s.state()).toBe('starting')
    expect(s.runs).toHaveLength(0)
    s.actor.send(header(100))
    s.actor.send(chunk(50))
    expect(s.state()).toBe('live')
    expect(s.runs).toHaveLength(1)
    expect(s.current().input).toEqual({ streamKey: 'k1', run: 1, preamble: null, startNumber: 0 })
    expect(s.current().writes).toEqual([100, 50])
    expect(s.actor.getSnapshot().context.bytesIn).toBe(150)
  })

  test('media before the header is refused with MEDIA_ERROR and starts nothing', () => {
    const s = setup()
    s.actor.send(chunk())
    expect(s.state()).toBe('starting')
    expect(s.runs).toHaveLength(0)
    expect(s.notes('stream-error')).toEqual([
      {
        type: 'notify',
        to: ['sock-b'],
        event: 'stream-error',
        data: expect.objectContaining({ code: 'MEDIA_ERROR', streamKey: 'k1' }),
      },
    ])
  })

  test('each segment updates the playlist and the audience', () => {
    const s = setup()
    s.actor.send(header())
    s.actor.send({ type: 'viewer.join', viewer: 'v1', socket: 'sock-v1' })
    s.segment(0)
    s.segment(1, 1.9)
    const playlists = s.emitted.filter((e) => e.type === 'playlist')
    expect(playlists.at(-1)).toEqual({
      type: 'playlist',
      ended: false,
      segments: [
        { number: 0, duration: 2, discontinuity: false },
        { number: 1, duration: 1.9, discontinuity: false },
      ],
    })
    expect(s.notes('stream-segments-updated').map((n) => [n.to, n.data.segmentCount])).toEqual([
      [['sock-b', 'sock-v1'], 1],
      [['sock-b', 'sock-v1'], 2],
    ])
  })

  test('an FFmpeg exit restarts it with the kept init segment, continuing the numbering after a discontinuity', () => {
    const s = setup()
    s.actor.send(header())
    s.segment(0)
    s.segment(1)
    const first = s.current()
    first.send({ type: 'ffmpeg.exited', run: 1, code: 1, detail: 'Invalid data found\nError while decoding' })
    expect(s.state()).toBe('live')
    expect(first.stopped).toBe(true)
    expect(s.runs).toHaveLength(2)
    expect(s.current().input).toEqual({ streamKey: 'k1', run: 2, preamble: INIT, startNumber: 2 })
    // The preamble is written by the transcoder itself; chunks follow.
    s.actor.send(chunk(70))
    expect(s.current().writes).toEqual([70])
    expect(s.notes('stream-error').at(-1)).toMatchObject({
      to: ['sock-b'],
      data: { code: 'FFMPEG_ERROR', streamKey: 'k1', error: expect.stringContaining('Error while decoding') },
    })
    s.segment(2)
    expect(s.actor.getSnapshot().context.segments.map((x) => [x.number, x.discontinuity])).toEqual([
      [0, false],
      [1, false],
      [2, true],
    ])
  })

  test('a taken-over stream resumes on a chunk without a header: FFmpeg reads the carried init segment first', () => {
    const segments = [{ number: 6, duration: 2, discontinuity: false }]
    const s = setup({
      broadcaster: null,
      carryOver: { viewers: {}, segments, nextSegment: 7, restarts: 1, init: INIT, broadcasterLeftAt: null },
    })
    expect(s.state()).toBe('orphaned')
    s.actor.send({ type: 'broadcaster.attach', socket: 'sock-b' })
    s.actor.send(chunk(70))
    expect(s.state()).toBe('live')
    expect(s.runs).toHaveLength(1)
    expect(s.current().input).toEqual({ streamKey: 'k1', run: 1, preamble: INIT, startNumber: 7 })
    expect(s.current().writes).toEqual([70])
    s.segment(7)
    expect(s.actor.getSnapshot().context.segments.map((x) => [x.number, x.discontinuity])).toEqual([
      [6, false],
      [7, true],
    ])
  })

  test('a taken-over stream keeps the grace period its broadcaster started elsewhere: it ends failed on time', () => {
    const takenOver = (leftAgoMs: number) =>
      setup({
        broadcaster: null,
        carryOver: {
          viewers: {},
          segments: [],
          nextSegment: 0,
          restarts: 0,
          init: INIT,
          broadcasterLeftAt: Date.now() - leftAgoMs,
        },
      })
    // The broadcaster left 4 s ago on the instance that stopped; the grace period is 10 s, so 6 s are left.
    const s = takenOver(4000)
    expect(s.state()).toBe('orphaned')
    s.clock.increment(5_900)
    expect(s.state()).toBe('orphaned')
    s.clock.increment(200)
    expect(s.state()).toBe('failed')
    // Its grace period long over before the takeover: it ends at once.
    const late = takenOver(60_000)
    late.clock.increment(0)
    expect(late.state()).toBe('failed')
  })

  test('a stall (data flowing, no segment or progress for 3 segment durations) restarts FFmpeg; silence does not', () => {
    const s = setup()
    s.actor.send(header())
    s.segment(0)
    s.clock.increment(60_000) // no data since the segment: not a stall
    expect(s.runs).toHaveLength(1)
    // One chunk a second; more data does not push the deadline back.
    for (let i = 0; i < 6; i++) {
      s.actor.send(chunk())
      s.clock.increment(i < 5 ? 1000 : 999)
    }
    expect(s.runs).toHaveLength(1)
    s.clock.increment(1)
    expect(s.runs).toHaveLength(2)
    expect(s.runs[0]?.stopped).toBe(true)
    expect(s.notes('stream-error').at(-1)?.data.error).toContain('stalled')
  })

  test('a pause in the data is not a stall: FFmpeg cannot finish a segment it has no data for', () => {
    const s = setup()
    s.actor.send(header())
    s.segment(0)
    s.actor.send(chunk()) // half a segment, then the broadcaster pauses
    s.clock.increment(30_000)
    expect(s.runs).toHaveLength(1)
    // Data flowing again, one chunk a second, and still no segment: a stall 6 s after it resumed.
    for (let i = 0; i < 6; i++) {
      s.actor.send(chunk())
      s.clock.increment(1000)
    }
    expect(s.runs).toHaveLength(2)
  })

  test('a slow FFmpeg whose output time moves on is not stalled; once it stands still, it is', () => {
    const s = setup()
    s.actor.send(header())
    const progress = (outTimeUs: number) =>
      s.current().send({ type: 'ffmpeg.progress', run: s.current().input.run, outTimeUs })
    // Twenty seconds of data, one chunk a second, and no segment yet: progress every second keeps it alive.
    for (let i = 1; i <= 20; i++) {
      s.actor.send(chunk())
      s.clock.increment(1000)
      progress(i * 100_000)
    }
    expect(s.runs).toHaveLength(1)
    // Progress from a replaced run does not count.
    for (let i = 0; i < 6; i++) {
      s.actor.send(chunk())
      s.current().send({ type: 'ffmpeg.progress', run: 0, outTimeUs: 9e9 })
      s.clock.increment(1000)
    }
    expect(s.runs).toHaveLength(2)
    expect(s.notes('stream-error').at(-1)?.data.error).toContain('stalled')
  })

  test('a new segment cancels the stall timer', () => {
    const s = setup()
    s.actor.send(header())
    s.clock.increment(5_000)
    s.segment(0)
    s.actor.send(chunk())
    s.clock.increment(5_000)
    expect(s.runs).toHaveLength(1)
  })

  test('an old run that reports late changes nothing', () => {
    const s = setup()
    s.actor.send(header())
    const first = s.current()
    first.send({ type: 'ffmpeg.exited', run: 1, code: 1, detail: '' })
    first.send({ type: 'ffmpeg.segment', run: 1, number: 0, duration: 2 })
    first.send({ type: 'ffmpeg.exited', run: 1, code: 1, detail: '' })
    expect(s.runs).toHaveLength(2)
    expect(s.actor.getSnapshot().context.segments).toEqual([])
    expect(s.actor.getSnapshot().context.failures).toBe(1)
  })

  test('after N failed restarts the stream fails, tells the broadcaster and stops its FFmpeg', () => {
    const s = setup()
    s.actor.send(header())
    s.segment(0)
    for (let i = 0; i < 2; i++)
      s.current().send({ type: 'ffmpeg.exited', run: s.current().input.run, code: 1, detail: '' })
    expect(s.state()).toBe('live')
    s.current().send({ type: 'ffmpeg.overloaded', run: 3 })
    expect(s.state()).toBe('failed')
    expect(s.actor.getSnapshot().status).toBe('done')
    expect(s.runs.every((r) => r.stopped)).toBe(true)
    expect(s.notes('stream-error').at(-1)?.data).toMatchObject({
      code: 'FFMPEG_ERROR',
      error: expect.stringContaining('failed 3 times'),
    })
    expect(s.notes('stream-ended').at(-1)?.data).toEqual({
      streamKey: 'k1',
      reason: 'FFmpeg failed 3 times in a row',
    })
    expect(s.emitted.filter((e) => e.type === 'playlist').at(-1)).toMatchObject({ ended: true })
  })

  test('a segment in between resets the failure count', () => {
    const s = setup()
    s.actor.send(header())
    for (let i = 0; i < 5; i++) {
      s.current().send({ type: 'ffmpeg.exited', run: s.current().input.run, code: 1, detail: '' })
      s.segment(i)
    }
    expect(s.state()).toBe('live')
    expect(s.actor.getSnapshot().context.restarts).toBe(5)
  })

  test('a chunk with a new WebM header (broadcaster restarted its recorder) restarts FFmpeg without counting a failure', () => {
    const s = setup()
    s.actor.send(header())
    s.segment(0)
    s.actor.send(header(80))
    expect(s.runs).toHaveLength(2)
    expect(s.runs[0]?.stopped).toBe(true)
    expect(s.current().input).toEqual({ streamKey: 'k1', run: 2, preamble: null, startNumber: 1 })
    expect(s.current().writes).toEqual([80])
    expect(s.actor.getSnapshot().context.failures).toBe(0)
    s.segment(1)
    expect(s.actor.getSnapshot().context.segments.at(-1)?.discontinuity).toBe(true)
  })
})

describe('livestream machine: ending', () => {
  test('end → ending: FFmpeg finishes its last segment, then ENDLIST and stream-ended to everyone', () => {
    const s = setup()
    s.actor.send(header())
    s.actor.send({ type: 'viewer.join', viewer: 'v1', socket: 'sock-v1' })
    s.segment(0)
    s.actor.send({ type: 'stream.end', reason: 'ended by the broadcaster', requester: 'sock-other' })
    expect(s.state()).toBe('ending')
    expect(s.current().finished).toBe(true)
    s.actor.send(chunk()) // ignored while ending
    expect(s.current().writes).toHaveLength(1)
    s.segment(1, 0.5)
    s.current().send({ type: 'ffmpeg.exited', run: 1, code: 0, detail: '' })
    expect(s.state()).toBe('ended')
    expect(s.emitted.filter((e) => e.type === 'playlist').at(-1)).toMatchObject({
      ended: true,
      segments: [{}, {}],
    })
    expect(s.notes('stream-ended')).toEqual([
      {
        type: 'notify',
        to: ['sock-b', 'sock-v1', 'sock-other'],
        event: 'stream-ended',
        data: { streamKey: 'k1', reason: 'ended by the broadcaster' },
      },
    ])
  })

  test('an FFmpeg that does not exit in time is killed', () => {
    const s = setup()
    s.actor.send(header())
    s.actor.send({ type: 'stream.end', reason: 'bye' })
    s.clock.increment(2_999)
    expect(s.state()).toBe('ending')
    s.clock.increment(1)
    expect(s.state()).toBe('ended')
    expect(s.current().stopped).toBe(true)
  })

  test('ending before any media ends at once, with nothing to transcode', () => {
    const s = setup()
    s.actor.send({ type: 'stream.end', reason: 'bye' })
    expect(s.state()).toBe('ended')
    expect(s.emitted.filter((e) => e.type === 'playlist')).toEqual([])
  })

  test('a dropped broadcaster ends the stream after the grace period; a reconnect within it resumes', () => {
    const s = setup()
    s.actor.send(header())
    s.actor.send({ type: 'broadcaster.detach', socket: 'someone-else' })
    expect(s.actor.getSnapshot().context.broadcaster).toBe('sock-b')
    s.actor.send({ type: 'broadcaster.detach', socket: 'sock-b' })
    s.clock.increment(9_000)
    s.actor.send({ type: 'broadcaster.attach', socket: 'sock-b2' })
    s.clock.increment(60_000)
    expect(s.state()).toBe('live')
    expect(s.actor.getSnapshot().context.broadcaster).toBe('sock-b2')
    s.actor.send({ type: 'broadcaster.detach', socket: 'sock-b2' })
    s.clock.increment(10_000)
    expect(s.state()).toBe('ending')
    expect(s.actor.getSnapshot().context.endReason).toBe('broadcaster disconnected')
  })

  test('a stream started over HTTP waits the grace period for a broadcaster', () => {
    const s = setup({ broadcaster: null })
    s.clock.increment(9_999)
    expect(s.state()).toBe('starting')
    s.clock.increment(1)
    expect(s.state()).toBe('ended')
    const attached = setup({ broadcaster: null })
    attached.actor.send({ type: 'broadcaster.attach', socket: 'sock' })
    attached.clock.increment(20_000)
    expect(attached.state()).toBe('starting')
  })
})

describe('livestream machine: viewers', () => {
  const counts = (s: ReturnType<typeof setup>, event: string) => s.notes(event).map((n) => n.data.viewerCount)

  test('socket viewers join and leave with the right counts, told to the broadcaster and viewers', () => {
    const s = setup()
    s.actor.send({ type: 'viewer.join', viewer: 'a', socket: 'sock-a' })
    s.actor.send({ type: 'viewer.join', viewer: 'b', socket: 'sock-b1' })
    expect(s.notes('stream-joined').map((n) => [n.to, n.data])).toEqual([
      [['sock-a'], { streamKey: 'k1', viewerCount: 1, isLive: false, sessionId: 'a', segmentCount: 0 }],
      [['sock-b1'], { streamKey: 'k1', viewerCount: 2, isLive: false, sessionId: 'b', segmentCount: 0 }],
    ])
    expect(counts(s, 'viewer-joined')).toEqual([1, 2])
    expect(s.notes('viewer-joined').at(-1)?.to).toEqual(['sock-b', 'sock-a', 'sock-b1'])
    s.actor.send({ type: 'viewer.leave', socket: 'sock-a' })
    s.actor.send({ type: 'viewer.leave', socket: 'sock-a' })
    expect(counts(s, 'viewer-left')).toEqual([1])
    expect(s.notes('viewer-left')[0]?.to).toEqual(['sock-b', 'sock-b1'])
  })

  test('isLive once FFmpeg runs', () => {
    const s = setup()
    s.actor.send(header())
    s.actor.send({ type: 'viewer.join', viewer: 'a', socket: 'sock-a' })
    expect(s.notes('stream-joined')[0]?.data.isLive).toBe(true)
  })

  test('HLS players count until 15 s of silence; one viewer on both socket and HLS counts once', () => {
    const s = setup()
    s.actor.send({ type: 'viewer.hls', session: 'h1' })
    expect(counts(s, 'viewer-joined')).toEqual([1])
    s.clock.increment(10_000)
    s.actor.send({ type: 'viewer.hls', session: 'h1' }) // a playlist reload keeps it alive
    s.clock.increment(10_000)
    expect(s.actor.getSnapshot().context.viewers).toEqual({ h1: { socket: null, hls: true } })
    s.actor.send({ type: 'viewer.join', viewer: 'h1', socket: 'sock-h1' }) // same viewer opens a socket
    expect(counts(s, 'viewer-joined')).toEqual([1])
    expect(s.notes('stream-joined')[0]?.data.viewerCount).toBe(1)
    s.clock.increment(15_000) // HLS silent: still watching through the socket
    expect(s.actor.getSnapshot().context.viewers).toEqual({ h1: { socket: 'sock-h1', hls: false } })
    s.actor.send({ type: 'viewer.hls', session: 'h2' })
    expect(counts(s, 'viewer-joined')).toEqual([1, 2])
    s.clock.increment(15_000)
    expect(counts(s, 'viewer-left')).toEqual([1])
    s.actor.send({ type: 'viewer.leave', socket: 'sock-h1' })
    expect(counts(s, 'viewer-left')).toEqual([1, 0])
  })

  test('viewers per stream are bounded: HLS sessions past the limit are not tracked', () => {
    const s = setup()
    for (const id of ['a', 'b', 'c', 'd', 'e']) s.actor.send({ type: 'viewer.hls', session: id })
    expect(Object.keys(s.actor.getSnapshot().context.viewers)).toEqual(['a', 'b', 'c'])
  })
})

test('media bytes never appear in a serialized snapshot or event', () => {
  const s = setup()
  s.actor.send(header(5000))
  const json = JSON.stringify(s.actor.getSnapshot().context)
  expect(json).toContain('"init":{"byteLength":4}')
  expect(json.length).toBeLessThan(1000)
  expect(JSON.stringify(header(5000))).toContain('{"byteLength":5000}')
})
