/** Extended M3U playlists for audiobooks, in the document's form. */

export interface PlaylistEntry {
  /** Seconds; written with up to three decimals. */
  duration: number
  title: string
  url: string
}

export const M3U_CONTENT_TYPE = 'audio/x-mpegurl; charset=utf-8'

/** `300`, `12.345`: seconds without trailing zeros, so whole durations read as in the document. */
export function formatSeconds(seconds: number): string {
  return String(Math.round(seconds * 1000) / 1000)
}

/** The `#EXTINF` title of chapter `index`: `Chapter 1 - Introduction`, or `Chapter 1` when it has no own title. */
export function chapterLabel(index: number, title: string): string {
  const plain = `Chapter ${index}`
  return title === plain ? plain : `${plain} - ${title}`
}

/** Titles and URLs cannot break lines: titles are cleaned at upload, URLs are built by the server. */
export function m3u(entries: PlaylistEntry[]): string {
  const lines = ['#EXTM3U']
  for (const entry of entries) {
    lines.push(`#EXTINF:${formatSeconds(entry.duration)},${entry.title.replace(/[\r\n]+/g, ' ')}`, entry.url)
  }
  return `${lines.join('\n')}\n`
}
