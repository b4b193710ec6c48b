/**
 * PCM input for the collector: a WAV stream (RIFF header parsed as it arrives, so `arecord -f S16_LE … |` works)
 * or raw signed 16-bit little-endian PCM, from a file or stdin. Yields mono samples, channels averaged.
 */

export interface PcmFormat {
  sampleRate: number
  channels: number
}

export class InputFormatError extends Error {
  override name = 'InputFormatError'
}

/** Header bytes read before giving up on finding the WAV `data` chunk. */
const MAX_WAV_HEADER_BYTES = 64 * 1024

function ascii(bytes: Uint8Array, at: number, length: number): string {
  return String.fromCharCode(...bytes.subarray(at, at + length))
}

/**
 * Parses a WAV header from the start of `bytes`. Returns null while more bytes are needed, else the format and
 * where the sample data begins. Only 16-bit integer PCM is accepted.
 */
export function parseWavHeader(bytes: Uint8Array): { format: PcmFormat; dataOffset: number } | null {
  if (bytes.byteLength < 12) return null
  if (ascii(bytes, 0, 4) !== 'RIFF' || ascii(bytes, 8, 4) !== 'WAVE') {
    throw new InputFormatError('not a WAV file (no RIFF/WAVE header); use --format raw for raw PCM')
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  let format: PcmFormat | undefined
  let at = 12
  while (at + 8 <= bytes.byteLength) {
    const id = ascii(bytes, at, 4)
    const size = view.getUint32(at + 4, true)
    if (id === 'data') {
      if (!format) throw new InputFormatError('WAV data chunk comes before its fmt chunk')
      return { format, dataOffset: at + 8 }
    }
    if (at + 8 + size > bytes.byteLength) return null
    if (id === 'fmt ') {
      const audioFormat = view.getUint16(at + 8, true)
      const channels = view.getUint16(at + 10, true)
      const sampleRate = view.getUint32(at + 12, true)
      const bits = view.getUint16(at + 22, true)
      // 0xFFFE is WAVE_FORMAT_EXTENSIBLE, which arecord uses for more than two channels.
      if ((audioFormat !== 1 && audioFormat !== 0xfffe) || bits !== 16) {
        throw new InputFormatError(
          `unsupported WAV encoding (format ${audioFormat}, ${bits} bits): use 16-bit PCM`,
        )
      }
      if (channels < 1 || sampleRate < 1000)
        throw new InputFormatError('WAV header has no channels or no sample rate')
      format = { sampleRate, channels }
    }
    at += 8 + size + (size % 2)
  }
  if (bytes.byteLength > MAX_WAV_HEADER_BYTES)
    throw new InputFormatError('no WAV data chunk in the first 64 KiB')
  return null
}

/** Mono Int16 samples from interleaved 16-bit PCM bytes (a trailing partial frame is kept for the next call). */
export class PcmToMono {
  private carry = new Uint8Array(0)

  constructor(private readonly channels: number) {}

  push(bytes: Uint8Array): Int16Array {
    const joined = this.carry.byteLength ? Buffer.concat([this.carry, bytes]) : bytes
    const frameBytes = 2 * this.channels
    const usable = joined.byteLength - (joined.byteLength % frameBytes)
    this.carry = joined.slice(usable)
    const view = new DataView(joined.buffer, joined.byteOffset, usable)
    const frames = usable / frameBytes
    const out = new Int16Array(frames)
    for (let i = 0; i < frames; i++) {
      let sum = 0
      for (let c = 0; c < this.channels; c++) sum += view.getInt16((i * this.channels + c) * 2, true)
      out[i] = Math.round(sum / this.channels)
    }
    return out
  }
}

/**
 * Reads PCM from `stream` and yields the format once known, then mono sample blocks. For WAV the format comes
 * from the header; for raw PCM from `raw`.
 */
export async function* readPcm(
  stream: ReadableStream<Uint8Array>,
  options: { kind: 'wav' } | { kind: 'raw'; format: PcmFormat },
): AsyncGenerator<{ format: PcmFormat } | { samples: Int16Array }> {
  let header = new Uint8Array(0)
  let mono: PcmToMono | undefined
  if (options.kind === 'raw') {
    yield { format: options.format }
    mono = new PcmToMono(options.format.channels)
  }
  for await (const part of stream as unknown as AsyncIterable<Uint8Array>) {
    if (!mono) {
      header = Buffer.concat([header, part])
      const parsed = parseWavHeader(header)
      if (!parsed) continue
      yield { format: parsed.format }
      mono = new PcmToMono(parsed.format.channels)
      yield { samples: mono.push(header.subarray(parsed.dataOffset)) }
      continue
    }
    yield { samples: mono.push(part) }
  }
  if (!mono) throw new InputFormatError('input ended before a complete WAV header')
}
