import { expect, test } from 'bun:test'
import { createActor, createMachine, sendTo } from 'xstate'
import {
  MediaBytes,
  type TranscoderCommand,
  type TranscoderEvent,
  type TranscoderInput,
} from '../../actors/livestream.machine.ts'
import { transcoderLogic } from '../../src/livestream/transcoder.ts'
import type { FfmpegProcess } from '../../src/platform/ffmpeg-process.ts'
import { spawnFfmpeg } from '../../src/platform/ffmpeg-process.ts'

/** An FFmpeg stand-in whose pipe accepts a write only when the test says so. */
function slowProcess() {
  const pending: Array<{ size: number; accept: () => void }> = []
  const written: number[] = []
  let exit: (code: number | null) => void = () => {}
  let line: (text: string) => boolean = () => false
  const state = { ended: false, killed: false }
  const proc: FfmpegProcess = {
    pid: 1,
    write: (bytes) =>
      new Promise<void>((resolve) => {
        pending.push({
          size: bytes.byteLength,
          accept: () => {
            written.push(bytes.byteLength)
            resolve()
          },
        })
      }),
    end: async () => {
      state.ended = true
    },
    kill: () => {
      state.killed = true
    },
    exited: new Promise((resolve) => {
      exit = resolve
    }),
    stderrTail: () => 'boom',
  }
  return {
    proc,
    pending,
    written,
    state,
    exit: (code: number | null) => exit(code),
    line: (text: string) => line(text),
    setLine: (fn: (text: string) => boolean) => {
      line = fn
    },
  }
}

function run(maxQueuedBytes: number, preamble: MediaBytes | null = null) {
  const fake = slowProcess()
  const events: TranscoderEvent[] = []
  const logic = transcoderLogic((_input, onLine) => {
    fake.setLine(onLine)
    return fake.proc
  }, maxQueuedBytes)
  const input: TranscoderInput = { streamKey: 'k', run: 7, preamble, startNumber: 0 }
  // A parent that forwards commands to the child and records what it sends back.
  const parent = createActor(
    createMachine({
      types: {} as {
        events:
          | TranscoderEvent
          | { type: 'cmd'; command: { type: 'write'; chunk: MediaBytes } | { type: 'finish' } }
      },
      invoke: { id: 'child', src: logic, input },
      on: {
        cmd: { actions: sendTo('child', ({ event }) => (event as { command: TranscoderCommand }).command) },
        '*': { actions: ({ event }) => events.push(event as TranscoderEvent) },
      },
    }),
  )
  parent.start()
  const write = (size: number) =>
    parent.send({ type: 'cmd', command: { type: 'write', chunk: new MediaBytes(new Uint8Array(size)) } })
  return {
    fake,
    events,
    parent,
    write,
    finish: () => parent.send({ type: 'cmd', command: { type: 'finish' } }),
  }
}

const tick = () => new Promise((resolve) => setTimeout(resolve, 0))

test('writes wait for the pipe one at a time, in order, preamble first', async () => {
  const t = run(1000, new MediaBytes(new Uint8Array(5)))
  t.write(10)
  t.write(20)
  await tick()
  expect(t.fake.pending.map((p) => p.size)).toEqual([5])
  t.fake.pending.shift()?.accept()
  await tick()
  expect(t.fake.pending.map((p) => p.size)).toEqual([10])
  t.fake.pending.shift()?.accept()
  await tick()
  t.fake.pending.shift()?.accept()
  await tick()
  expect(t.fake.written).toEqual([5, 10, 20])
})

test('past the queue limit FFmpeg is reported overloaded once and chunks are dropped, not buffered', async () => {
  const t = run(100)
  t.write(60) // taken by the pipe writer at once (queue is empty again)
  t.write(60)
  t.write(60) // 120 > 100 queued
  t.write(60)
  await tick()
  expect(t.events).toEqual([{ type: 'ffmpeg.overloaded', run: 7 }])
})

test('segment lines and the exit come back tagged with the run; finish closes stdin after the queue', async () => {
  const t = run(1000)
  t.write(10)
  t.finish()
  await tick()
  expect(t.fake.state.ended).toBe(false)
  t.fake.pending.shift()?.accept()
  await tick()
  expect(t.fake.state.ended).toBe(true)
  // Status lines are claimed (kept out of the error tail); anything else is not.
  expect(t.fake.line('segment_3.ts,6.000000,8.000000')).toBe(true)
  expect(t.fake.line('noise')).toBe(false)
  t.fake.exit(0)
  await tick()
  expect(t.events).toEqual([
    { type: 'ffmpeg.segment', run: 7, number: 3, duration: 2 },
    { type: 'ffmpeg.exited', run: 7, code: 0, detail: 'boom' },
  ])
})

test('progress lines become ffmpeg.progress only when the output time moves on', async () => {
  const t = run(1000)
  for (const line of [
    'out_time_us=N/A',
    'progress=continue',
    'out_time_us=500000',
    'out_time_us=500000',
    'frame=12',
    'out_time_us=1100000',
  ])
    expect(t.fake.line(line)).toBe(true)
  await tick()
  expect(t.events).toEqual([
    { type: 'ffmpeg.progress', run: 7, outTimeUs: 500_000 },
    { type: 'ffmpeg.progress', run: 7, outTimeUs: 1_100_000 },
  ])
})

test('stopping the actor kills FFmpeg', () => {
  const t = run(1000)
  t.parent.stop()
  expect(t.fake.state.killed).toBe(true)
})

test('spawnFfmpeg: real child, stdin back-pressure, stdout bytes, stderr status lines apart from the error tail, EPIPE after exit', async () => {
  const lines: string[] = []
  const output: Uint8Array[] = []
  // `sh` stands in for FFmpeg here: it reads stdin slowly, writes bytes to stdout and lines to stderr.
  const proc = spawnFfmpeg(
    'sh',
    ['-c', 'printf AB; echo one >&2; echo oops >&2; sleep 0.3; wc -c >&2; printf CD; printf last >&2'],
    {
      onStderrLine: (line) => {
        lines.push(line)
        return line !== 'oops'
      },
      onOutput: (bytes) => output.push(bytes),
    },
  )
  const big = new Uint8Array(1024 * 1024)
  const started = performance.now()
  await proc.write(big) // more than a pipe holds: resolves only once `wc` has read most of it
  expect(performance.now() - started).toBeGreaterThan(200)
  await proc.end()
  // Everything written before the exit has been handed on by the time `exited` resolves.
  expect(await proc.exited).toBe(0)
  expect(Buffer.concat(output).toString()).toBe('ABCD')
  expect(lines).toEqual(['one', 'oops', String(big.byteLength), 'last'])
  expect(proc.stderrTail()).toBe('oops')
  await expect(proc.write(big)).rejects.toMatchObject({ code: 'EPIPE' })
  const killed = spawnFfmpeg('sleep', ['30'], { onStderrLine: () => true, onOutput: () => {} })
  killed.kill()
  expect(await killed.exited).toBeNull()
})
