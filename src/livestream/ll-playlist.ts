import type { LlPlaylistView } from './ll-packager.ts'

export const LL_PLAYLIST_FILE = 'll.m3u8'

const LL_FILE = /^(?:(init)_(\d{1,9})\.mp4|(part|seg)_(\d{1,9})\.m4s)$/

/** URL names of the LL-HLS resources, relative to the playlist; the routes parse the same names. */
export const llNames = {
  init: (n: number) => `init_${n}.mp4`,
  part: (n: number) => `part_${n}.m4s`,
  segment: (msn: number) => `seg_${msn}.m4s`,
  /** What a file name names, or undefined when it is none of the above. */
  parse(file: string): { kind: 'init' | 'part' | 'seg'; n: number } | undefined {
    const match = LL_FILE.exec(file)
    if (!match) return undefined
    const kind = (match[1] ?? match[3]) as 'init' | 'part' | 'seg'
    return { kind, n: Number(match[2] ?? match[4]) }
  },
}

export interface LlPlaylistOptions {
  /** Configured segment length, seconds: the least EXT-X-TARGETDURATION. */
  segmentSeconds: number
  /** Seconds no part exceeds (EXT-X-PART-INF PART-TARGET). */
  partTarget: number
}

/** PART-HOLD-BACK: how far behind the live edge a player stays; RFC 8216bis asks for at least 2, advises 3 part targets. */
export function partHoldBack(partTarget: number): number {
  return 3 * partTarget
}

/** EXT-X-TARGETDURATION: the segment length, raised if a segment (rounded, RFC 8216 §4.3.3.1) came out longer. */
export function targetDuration(
  view: Pick<LlPlaylistView, 'longestSegment' | 'segments'>,
  segmentSeconds: number,
): number {
  const longest = Math.max(view.longestSegment, ...view.segments.map((s) => s.duration))
  // Rounded as printed (to the millisecond), so that a printed 2.500 counts as 3.
  return Math.max(segmentSeconds, Math.round(Number(longest.toFixed(3))))
}

const seconds = (value: number) => value.toFixed(3)

/**
 * Apple Low-Latency HLS media playlist (RFC 8216bis, version 9) for one stream's window: blocking reload,
 * `EXT-X-PART` lines for the segments within three target durations of the end, a preload hint for the part
 * in the making, a program date time and (when it changes) a map per segment, `EXT-X-DISCONTINUITY` after an
 * FFmpeg restart, and `EXT-X-ENDLIST` once the stream has ended.
 */
export function renderLlPlaylist(view: LlPlaylistView, options: LlPlaylistOptions): string {
  const target = targetDuration(view, options.segmentSeconds)
  const lines = [
    '#EXTM3U',
    '#EXT-X-VERSION:9',
    `#EXT-X-TARGETDURATION:${target}`,
    `#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=${seconds(partHoldBack(options.partTarget))}`,
    `#EXT-X-PART-INF:PART-TARGET=${seconds(options.partTarget)}`,
    `#EXT-X-MEDIA-SEQUENCE:${view.segments[0]?.msn ?? 0}`,
    `#EXT-X-DISCONTINUITY-SEQUENCE:${view.discontinuitySequence}`,
    '#EXT-X-INDEPENDENT-SEGMENTS',
  ]
  const total = view.segments.reduce((sum, s) => sum + s.duration, 0)
  let elapsed = 0
  let map: number | undefined
  for (const segment of view.segments) {
    if (segment.discontinuity) lines.push('#EXT-X-DISCONTINUITY')
    if (segment.init !== map) {
      map = segment.init
      lines.push(`#EXT-X-MAP:URI="${llNames.init(segment.init)}"`)
    }
    lines.push(`#EXT-X-PROGRAM-DATE-TIME:${new Date(segment.programDateTime).toISOString()}`)
    if (total - elapsed <= 3 * target || !segment.complete) {
      for (const part of segment.parts) {
        lines.push(
          `#EXT-X-PART:DURATION=${seconds(part.duration)},URI="${llNames.part(part.number)}"${part.independent ? ',INDEPENDENT=YES' : ''}`,
        )
      }
    }
    elapsed += segment.duration
    if (segment.complete) lines.push(`#EXTINF:${seconds(segment.duration)},`, llNames.segment(segment.msn))
  }
  if (view.ended) lines.push('#EXT-X-ENDLIST')
  else lines.push(`#EXT-X-PRELOAD-HINT:TYPE=PART,URI="${llNames.part(view.nextPart)}"`)
  return `${lines.join('\n')}\n`
}
