/**
 * A slot actor's context as text, so the instance that takes a slot over (its owner died) continues the transmission
 * in progress: same id, same sequence order, the same chunks held for reordering, the same duplicate count. Chunks in
 * the recording travel the same way.
 */
import { type ChunkFormat, OpusChunk, type TransmissionContext } from '../../actors/transmission.machine.ts'

interface ChunkText {
  format: ChunkFormat
  durationSamples: number
  data: string
}

function chunkToText(chunk: OpusChunk): ChunkText {
  return {
    format: chunk.format,
    durationSamples: chunk.durationSamples,
    data: Buffer.from(chunk.data.buffer, chunk.data.byteOffset, chunk.data.byteLength).toString('base64'),
  }
}

function chunkFromText(text: ChunkText): OpusChunk {
  return new OpusChunk(new Uint8Array(Buffer.from(text.data, 'base64')), text.format, text.durationSamples)
}

export function slotStateToText(context: TransmissionContext): string {
  const t = context.transmission
  return JSON.stringify({
    ...context,
    transmission: t && {
      ...t,
      pending: t.pending.map((p) => ({ sequence: p.sequence, chunk: chunkToText(p.chunk) })),
    },
  })
}

export function slotStateFromText(text: string): TransmissionContext {
  const parsed = JSON.parse(text) as Omit<TransmissionContext, 'transmission'> & {
    transmission:
      | (Omit<NonNullable<TransmissionContext['transmission']>, 'pending'> & {
          pending: Array<{ sequence: number; chunk: ChunkText }>
        })
      | null
  }
  const t = parsed.transmission
  return {
    ...parsed,
    transmission: t && {
      ...t,
      pending: t.pending.map((p) => ({ sequence: p.sequence, chunk: chunkFromText(p.chunk) })),
    },
  }
}

export function recordedChunkToText(chunk: OpusChunk): string {
  return JSON.stringify(chunkToText(chunk))
}

export function recordedChunkFromText(text: string): OpusChunk {
  return chunkFromText(JSON.parse(text) as ChunkText)
}
