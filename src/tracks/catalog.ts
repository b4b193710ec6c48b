/**
 * What the rest of the server may know about the track library. `src/tracks/` owns the library
 * (scan, watch, uploads, streaming); playback sessions (`src/playback/`) only look tracks up here.
 */

/** What a track's bytes say about it (`src/tracks/metadata.ts` reads it). */
export interface TrackInfo {
  title: string
  artist: string
  album: string | null
  /** Seconds (may be fractional); 0 when unknown. */
  duration: number
  /** kbit/s, rounded; 0 when unknown. */
  bitrate: number
  /** Container, lower case: `mp3`, `flac`, `ogg`, `m4a`, `wav`, `opus`, … */
  format: string
  codec: string | null
  mimeType: string
}

/** One playable file: a library file (visible to every signed-in user) or an upload (its owner only). */
export interface Track extends TrackInfo {
  /** Stable across restarts (derived from the file, never from scan order). */
  id: string
  /** Bytes. */
  size: number
  /** `null` for library files; the uploader's user id for uploads. */
  ownerId: string | null
}

/** Look-ups by user: a user sees library files and their own uploads, never someone else's uploads. */
export interface TrackCatalog {
  find(trackId: string, userId: string): Track | undefined
  list(userId: string): Track[]
}
