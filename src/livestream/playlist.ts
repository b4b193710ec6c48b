import { segmentFileName } from './hls-args.ts'

/** One finished HLS segment as the playlist lists it. */
export interface HlsSegment {
  number: number
  /** Seconds. */
  duration: number
  /** The first segment after an FFmpeg restart: timestamps and encoder state start over. */
  discontinuity: boolean
}

/**
 * The document's EVENT playlist: every segment since the start, `#EXT-X-DISCONTINUITY` before each segment
 * that follows an FFmpeg restart, and `#EXT-X-ENDLIST` once the stream has ended. The target duration is
 * the configured segment length, raised if a segment (rounded, RFC 8216 §4.3.3.1) came out longer.
 */
export function renderPlaylist(
  segments: readonly HlsSegment[],
  segmentSeconds: number,
  ended: boolean,
): string {
  const longest = segments.reduce((max, s) => Math.max(max, Math.round(s.duration)), 0)
  const lines = [
    '#EXTM3U',
    '#EXT-X-VERSION:6',
    `#EXT-X-TARGETDURATION:${Math.max(segmentSeconds, longest)}`,
    `#EXT-X-MEDIA-SEQUENCE:${segments[0]?.number ?? 0}`,
    '#EXT-X-PLAYLIST-TYPE:EVENT',
    '#EXT-X-INDEPENDENT-SEGMENTS',
    '',
  ]
  for (const segment of segments) {
    if (segment.discontinuity) lines.push('#EXT-X-DISCONTINUITY')
    lines.push(`#EXTINF:${segment.duration.toFixed(3)},`, segmentFileName(segment.number))
  }
  if (ended) lines.push('#EXT-X-ENDLIST')
  return `${lines.join('\n')}\n`
}
