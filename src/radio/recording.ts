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

/** The OpusHead and OpusTags packets of an Ogg Opus stream: headers, not audio. */
export function isOpusHeaderPacket(packet: Uint8Array): boolean {
  return startsWith(packet, OPUS_HEAD) || startsWith(packet, OPUS_TAGS)
}

/**
 * Keeps one transmission's chunks (bounded) as they are delivered, and builds its Ogg Opus file with the native
 * muxer only if the transmission is saved. Raw packets go in as they are; Ogg chunks are demuxed and their audio
 * packets re-muxed, so the result is one logical stream.
 */
export class RecordingWriter {
  private readonly chunks: OpusChunk[] = []
  private heldBytes = 0
  private truncated = false

  constructor(
    private readonly transmissionId: string,
    /** The sample rate the audio was captured at (informational, in the OpusHead). */
    private readonly inputSampleRate = INPUT_SAMPLE_RATE,
  ) {}

  add(chunk: OpusChunk): void {
    if (this.truncated) return
    if (this.heldBytes + chunk.size > MAX_RECORDING_BYTES) {
      this.truncated = true
      log.warn(
        { transmissionId: this.transmissionId },
        'recording reached its size limit; the rest is not kept',
      )
      return
    }
    this.chunks.push(chunk)
    this.heldBytes += chunk.size
  }

  /** The Ogg Opus file (headers, audio pages, end-of-stream page), or null when there was no audio. */
  finish(): Uint8Array | null {
    let muxer: OggMuxer | undefined
    const pages: Uint8Array[] = []
    for (const chunk of this.chunks) {
      let packets = [chunk.data]
      let preSkip = DEFAULT_PRE_SKIP
      if (chunk.format === 'ogg-opus') {
        packets = new OggDemuxer().push(chunk.data).packets.map((p) => p.data)
        const head = packets.find((p) => startsWith(p, OPUS_HEAD))
        // The first Ogg chunk's own header says how much encoder delay to skip.
        if (head) preSkip = parseOpusHead(head).preSkip
      }
      for (const packet of packets) {
        if (isOpusHeaderPacket(packet)) continue
        if (!muxer) {
          muxer = new OggMuxer({
            preSkip,
            inputSampleRate: this.inputSampleRate,
            vendor: 'Airwave',
            comments: [`TITLE=${this.transmissionId}`],
          })
          pages.push(muxer.takePages())
        }
        try {
          pages.push(muxer.writePacket(packet))
        } catch (err) {
          // A packet the muxer refuses was still live audio; the recording just goes without it.
          log.warn({ err, transmissionId: this.transmissionId }, 'packet left out of the recording')
        }
      }
    }
    if (!muxer) return null
    pages.push(muxer.finish())
    return Buffer.concat(pages)
  }
}
