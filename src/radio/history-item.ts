import type { TransmissionRow } from './history.ts'

/** What a scanner call's fields are read from: its history row (or the row about to be written). */
export type CallRow = Pick<
  TransmissionRow,
  | 'transmissionId'
  | 'systemId'
  | 'systemLabel'
  | 'talkgroupLabel'
  | 'talkgroupTag'
  | 'talkgroupGroup'
  | 'frequency'
  | 'emergency'
  | 'sources'
  | 'call'
>

export function recordingPath(transmissionId: string): string {
  return `/api/v1/transmissions/${encodeURIComponent(transmissionId)}/recording`
}

/** A history row as `GET /api/v1/transmissions` lists it (CONTRACT "Radio"), with a call's fields when it is one. */
export function historyItem(row: TransmissionRow, publicUrl: string): Record<string, unknown> {
  return {
    transmission_id: row.transmissionId,
    slot: row.slot,
    radio_id: row.radioId,
    talkgroup_id: row.talkgroupId,
    started_at: row.startedAt.toISOString(),
    ended_at: row.endedAt.toISOString(),
    duration: row.duration,
    chunk_count: row.chunkCount,
    ...(row.recordingKey ? { recording_url: `${publicUrl}${recordingPath(row.transmissionId)}` } : {}),
    ...(row.systemId === null ? {} : callFields(row, publicUrl)),
  }
}

/** What a scanner call adds to its history item and its `transmission_start`. */
export function callFields(row: CallRow, publicUrl: string): Record<string, unknown> {
  return {
    system: row.systemId,
    system_label: row.systemLabel,
    talkgroup_label: row.talkgroupLabel,
    talkgroup_tag: row.talkgroupTag,
    talkgroup_group: row.talkgroupGroup,
    talkgroup_name: row.call?.talkgroupName ?? null,
    frequency: row.frequency,
    frequencies: row.call?.frequencies ?? [],
    patches: row.call?.patches ?? [],
    sources: row.sources ?? [],
    emergency: row.emergency,
    call_url: `${publicUrl}/calls/${encodeURIComponent(row.transmissionId)}`,
  }
}
