/**
 * The events a radio channel carries (radio-ingest-and-listen.md): built once where they happen (the slot's owner, a
 * call's upload), then delivered to every instance's listeners as they are, whichever instance they happen on.
 */
import type { OpusChunk } from '../../actors/transmission.machine.ts'

export type RadioEventName = 'transmission_start' | 'audio_chunk' | 'transmission_end'

export interface RadioEvent {
  name: RadioEventName
  /** The event's `data:`, as JSON. */
  data: string
  /** The transmission a start or end belongs to (so receivers need not parse `data`). */
  transmissionId: string
  /** A scanner system's events are tagged with their talkgroup, for listeners that hear only some. */
  talkgroup?: number
}

export function startEvent(
  transmissionId: string,
  startData: Record<string, unknown>,
  talkgroup?: number,
): RadioEvent {
  return { name: 'transmission_start', data: JSON.stringify(startData), transmissionId, talkgroup }
}

export function chunkEvent(
  transmissionId: string,
  sequence: number,
  chunk: OpusChunk,
  talkgroup?: number,
): RadioEvent {
  const data = JSON.stringify({
    sequence,
    chunk: Buffer.from(chunk.data.buffer, chunk.data.byteOffset, chunk.data.byteLength).toString('base64'),
    size: chunk.size,
    transmission_id: transmissionId,
    format: chunk.format,
    duration_ms: (chunk.durationSamples / 48_000) * 1000,
  })
  return { name: 'audio_chunk', data, transmissionId, talkgroup }
}

export function endEvent(transmissionId: string, talkgroup?: number): RadioEvent {
  return {
    name: 'transmission_end',
    data: JSON.stringify({ transmission_id: transmissionId }),
    transmissionId,
    talkgroup,
  }
}
