/**
 * The Raspberry Pi collector (CONTRACT.md "Commands"):
 *   bun run collector -- --url URL --key KEY --slot 1 --radio 2222001 --talkgroup 1 --input FILE|-
 * Reads WAV or raw 16-bit PCM (file or stdin), resamples to 8 kHz mono, encodes 100 ms Opus packets at
 * 16 kbps, sends only voice (threshold + hang time) and posts each chunk with a sequence number.
 */
import { parseArgs } from 'node:util'
import { encodeFrame, FRAME_MS, FRAME_SAMPLES, OpusEncoderPool, SAMPLE_RATE } from './encoder.ts'
import { InputFormatError, type PcmFormat, readPcm } from './pcm-input.ts'
import { Resampler } from './resample.ts'
import { ChunkSender } from './sender.ts'
import { StatusLine } from './status.ts'
import { frameLevelDb, VoiceActivity } from './voice-activity.ts'

const USAGE = `usage: collector --url URL --key KEY --slot 1|2 --radio ID --talkgroup ID --input FILE|-
  --format wav|raw        input format (default: wav; raw = signed 16-bit little-endian PCM)
  --rate HZ               raw input sample rate (default 8000)
  --channels N            raw input channels (default 1)
  --vad-threshold DBFS    level that counts as voice (default -45)
  --hang MS               quiet time that ends a transmission (default 800)
  --save                  ask the server to keep recordings (save_recording)
  --queue N               chunks kept while offline (default 600 = 1 min)
  --drain-timeout S       at the end of input, how long to keep retrying what is queued (default 30)
  --no-realtime           send a file as fast as possible instead of at its own pace`

class UsageError extends Error {}

function integer(value: string | undefined, name: string, min: number, max: number): number {
  const n = Number(value)
  if (value === undefined || !Number.isInteger(n) || n < min || n > max) {
    throw new UsageError(`--${name} must be a whole number from ${min} to ${max}`)
  }
  return n
}

function parseOptions(argv: string[]) {
  const { values } = parseArgs({
    args: argv,
    options: {
      url: { type: 'string' },
      key: { type: 'string' },
      slot: { type: 'string' },
      radio: { type: 'string' },
      talkgroup: { type: 'string' },
      input: { type: 'string' },
      format: { type: 'string', default: 'wav' },
      rate: { type: 'string', default: '8000' },
      channels: { type: 'string', default: '1' },
      'vad-threshold': { type: 'string', default: '-45' },
      hang: { type: 'string', default: '800' },
      save: { type: 'boolean', default: false },
      queue: { type: 'string', default: '600' },
      'drain-timeout': { type: 'string', default: '30' },
      'no-realtime': { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  })
  if (values.help) throw new UsageError('')
  for (const name of ['url', 'key', 'slot', 'radio', 'talkgroup', 'input'] as const) {
    if (!values[name]) throw new UsageError(`--${name} is required`)
  }
  const url = (values.url as string).replace(/\/+$/, '')
  if (!/^https?:\/\//.test(url)) throw new UsageError('--url must start with http:// or https://')
  if (values.format !== 'wav' && values.format !== 'raw') throw new UsageError('--format must be wav or raw')
  const threshold = Number(values['vad-threshold'])
  if (!Number.isFinite(threshold) || threshold > 0)
    throw new UsageError('--vad-threshold must be a dBFS level ≤ 0')
  return {
    url,
    key: values.key as string,
    slot: integer(values.slot, 'slot', 1, 2),
    radioId: integer(values.radio, 'radio', 0, 0xffff_ffff),
    talkgroupId: integer(values.talkgroup, 'talkgroup', 0, 0xffff_ffff),
    input: values.input as string,
    raw:
      values.format === 'raw'
        ? {
            sampleRate: integer(values.rate, 'rate', 1000, 384_000),
            channels: integer(values.channels, 'channels', 1, 16),
          }
        : undefined,
    threshold,
    hangMs: integer(values.hang, 'hang', 0, 60_000),
    save: values.save as boolean,
    maxQueue: integer(values.queue, 'queue', 1, 1_000_000),
    drainTimeoutMs: integer(values['drain-timeout'], 'drain-timeout', 0, 86_400) * 1000,
    realtime: !values['no-realtime'] && values.input !== '-',
  }
}

async function run(argv: string[]): Promise<number> {
  const options = parseOptions(argv)
  const input = options.input === '-' ? Bun.stdin.stream() : Bun.file(options.input).stream()
  const sender = new ChunkSender({
    url: options.url,
    key: options.key,
    maxQueue: options.maxQueue,
    minBackoffMs: 250,
    maxBackoffMs: 10_000,
    timeoutMs: 5000,
  })
  let finished = false
  const vad = new VoiceActivity(options.threshold, options.hangMs, FRAME_MS)
  const status = new StatusLine(process.stderr, () => ({
    state: finished ? 'done' : vad.isActive ? 'transmitting' : 'idle',
    transmissions: vad.transmissions,
    ...sender.stats,
  }))
  const pool = new OpusEncoderPool(1)
  const encoder = pool.acquire()
  let resampler: Resampler | undefined
  let pending = new Int16Array(0)
  let sequence = 0
  let frames = 0
  const started = performance.now()
  status.start()
  try {
    for await (const item of readPcm(
      input,
      options.raw ? { kind: 'raw', format: options.raw } : { kind: 'wav' },
    )) {
      if ('format' in item) {
        resampler = new Resampler((item.format as PcmFormat).sampleRate, SAMPLE_RATE)
        continue
      }
      const samples = resampler?.push(item.samples) ?? item.samples
      const joined = new Int16Array(pending.length + samples.length)
      joined.set(pending)
      joined.set(samples, pending.length)
      let at = 0
      for (; at + FRAME_SAMPLES <= joined.length; at += FRAME_SAMPLES) {
        const frame = joined.slice(at, at + FRAME_SAMPLES)
        frames++
        if (vad.update(frameLevelDb(frame))) {
          sender.enqueue({
            slot: options.slot,
            radio_id: options.radioId,
            talkgroup_id: options.talkgroupId,
            chunk_data: Buffer.from(encodeFrame(encoder, frame)).toString('base64'),
            sequence: sequence++,
            timestamp: new Date().toISOString(),
            save_recording: options.save,
          })
        }
        // A file is read faster than it plays: keep to its own pace so the server sees live timing.
        if (options.realtime) {
          const due = started + frames * FRAME_MS - performance.now()
          if (due > 0) await Bun.sleep(due)
        }
      }
      pending = joined.slice(at)
    }
    const drained = await sender.drain(options.drainTimeoutMs)
    finished = true
    status.stop()
    console.log(
      JSON.stringify({
        chunks_sent: sender.stats.sent,
        transmissions: vad.transmissions,
        dropped: sender.stats.dropped,
        rejected: sender.stats.rejected,
        queued: sender.stats.queued,
        last_error: sender.stats.lastError ?? null,
      }),
    )
    return drained && sender.stats.dropped === 0 ? 0 : 1
  } finally {
    status.stop()
    pool.release(encoder)
    pool.close()
  }
}

try {
  process.exit(await run(process.argv.slice(2)))
} catch (err) {
  if (err instanceof UsageError) {
    if (err.message) console.error(`collector: ${err.message}`)
    console.error(USAGE)
    process.exit(2)
  }
  if (err instanceof InputFormatError || (err as { code?: string }).code === 'ENOENT') {
    console.error(`collector: ${(err as Error).message}`)
    process.exit(1)
  }
  if (err instanceof TypeError && /parseArgs|Unknown option/i.test(String(err.message))) {
    console.error(`collector: ${err.message}\n${USAGE}`)
    process.exit(2)
  }
  throw err
}
