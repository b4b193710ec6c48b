import OpusScript from 'opusscript'

/** The document's audio format: 8 kHz mono, 100 ms frames, 16 kbps, VoIP application. */
export const SAMPLE_RATE = 8000
export const FRAME_MS = 100
export const FRAME_SAMPLES = (SAMPLE_RATE * FRAME_MS) / 1000
export const BITRATE = 16_000

/**
 * opusscript encoders, reused. Each instance caches views of a WASM heap that can grow, and past about 110
 * live instances they all fail ("ArrayBuffer has been detached", NOTES.md): so instances are pooled, capped,
 * and `.delete()`d when the pool closes.
 */
export class OpusEncoderPool {
  private readonly idle: OpusScript[] = []
  private live = 0

  constructor(private readonly maxInstances = 4) {}

  acquire(): OpusScript {
    const reused = this.idle.pop()
    if (reused) return reused
    if (this.live >= this.maxInstances) throw new Error(`more than ${this.maxInstances} Opus encoders in use`)
    const encoder = new OpusScript(SAMPLE_RATE, 1, OpusScript.Application.VOIP)
    encoder.setBitrate(BITRATE)
    this.live++
    return encoder
  }

  release(encoder: OpusScript): void {
    this.idle.push(encoder)
  }

  /** Frees every idle instance's WASM memory. */
  close(): void {
    for (const encoder of this.idle.splice(0)) encoder.delete()
    this.live = 0
  }
}

/** Encodes one 100 ms frame of 8 kHz mono samples to one Opus packet. */
export function encodeFrame(encoder: OpusScript, frame: Int16Array): Uint8Array {
  if (frame.length !== FRAME_SAMPLES)
    throw new Error(`a frame is ${FRAME_SAMPLES} samples, got ${frame.length}`)
  // opusscript takes the PCM as little-endian bytes.
  const packet = encoder.encode(Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength), FRAME_SAMPLES)
  return new Uint8Array(packet)
}
