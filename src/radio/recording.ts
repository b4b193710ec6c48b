import type { OpusChunk } from '../../actors/transmission.machine.ts'
import { log } from '../platform/log.ts'
import { OggDemuxer, OggMuxer, parseOpusHead } from '../platform/native.ts'

/** Recordings stop growing past this (about 4 h of 16 kbps voice); the rest of the transmission is not kept. */
export const MAX_RECORDING_BYTES = 32 * 1024 * 1024
/** libopus's usual encoder delay at 48 kHz, used when the chunks carry no OpusHead of their own. */
const DEFAULT_PRE_SKIP = 312
/** Ingest audio is 8 kHz voice (radio-ingest-and-listen.md, "Audio Format"). */
const INPUT_SAMPLE_RATE = 8000

const OPUS_HEAD = 'OpusHead'
const OPUS_TAGS = 'OpusTags'

function startsWith(packet: Uint8Array, magic: string): boolean {
  if (packet.byteLength < magic.length) return false
  for (let i = 0; i < magic.length; i++) if (packet[i] !== magic.charCodeAt(i)) return false
  return true
}

/**
 * Builds one transmission's Ogg Opus file (native muxer) as its chunks are delivered. Raw packets go in as
 * they are; Ogg chunks are demuxed and their audio packets re-muxed, so the result is one logical stream.
 */
export class RecordingWriter {
  private muxer: OggMuxer | undefined
  private readonly pages: Uint8Array[] = []
  private bytes = 0
  private truncated = false

  constructor(private readonly transmissionId: string) {}

  add(chunk: OpusChunk): void {
    if (this.truncated) return
    const packets = chunk.format === 'opus-packet' ? [chunk.data] : this.demux(chunk.data)
    for (const packet of packets) {
      if (startsWith(packet, OPUS_HEAD) || startsWith(packet, OPUS_TAGS)) continue
      this.push(this.open().writePacket(packet))
    }
  }

  /** The finished file (end-of-stream page written), or null when no audio was added. */
  finish(): Uint8Array | null {
    if (!this.muxer) return null
    // The end-of-stream page is kept even past the limit, so a truncated recording is still a valid file.
    this.pages.push(this.muxer.finish())
    return Buffer.concat(this.pages)
  }

  private open(preSkip = DEFAULT_PRE_SKIP): OggMuxer {
    if (!this.muxer) {
      this.muxer = new OggMuxer({
        preSkip,
        inputSampleRate: INPUT_SAMPLE_RATE,
        vendor: 'Airwave',
        comments: [`TITLE=${this.transmissionId}`],
      })
      this.push(this.muxer.takePages())
    }
    return this.muxer
  }

  private demux(data: Uint8Array): Uint8Array[] {
    const demuxer = new OggDemuxer()
    const { packets } = demuxer.push(data)
    const head = packets.find((p) => startsWith(p.data, OPUS_HEAD))
    // The first Ogg chunk's own header says how much encoder delay to skip.
    if (head && !this.muxer) this.open(parseOpusHead(head.data).preSkip)
    return packets.map((p) => p.data)
  }

  private push(pages: Uint8Array): void {
    if (pages.byteLength === 0) return
    if (this.bytes + pages.byteLength > MAX_RECORDING_BYTES) {
      this.truncated = true
      log.warn(
        { transmissionId: this.transmissionId },
        'recording reached its size limit; the rest is not kept',
      )
      return
    }
    this.pages.push(pages)
    this.bytes += pages.byteLength
  }
}
