/** Track request schemas and the documented reply shapes (track-streaming-service.md, CONTRACT.md "Tracks"). */
import { t } from 'elysia'
import type { Track } from './catalog.ts'

/** Longest track id a request may name (Elysia answers longer ones with a 400). */
export const TRACK_ID_MAX_LENGTH = 256

/**
 * Any string: ids are only looked up in the catalog, so `..%2f…`, absolute paths or NUL bytes simply match
 * nothing (404). The bound keeps absurd values out of logs and maps.
 */
export const trackIdParams = t.Object({ trackId: t.String({ maxLength: TRACK_ID_MAX_LENGTH }) })

/** A track as every track route answers it: the document's fields first, then ours. */
export function trackJson(track: Track) {
  return {
    id: track.id,
    title: track.title,
    artist: track.artist,
    duration: track.duration,
    bitrate: track.bitrate,
    format: track.format,
    size: track.size,
    album: track.album,
    codec: track.codec,
    mimeType: track.mimeType,
    /** Whether this is the caller's own upload (false for library files). */
    uploaded: track.ownerId !== null,
  }
}

export function success<T>(data: T) {
  return { status: 'success' as const, data }
}
