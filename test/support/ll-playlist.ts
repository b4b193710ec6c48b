/** A parsed LL-HLS media playlist, as far as the tests and the bench read it. */
export interface LlPlaylist {
  version: number
  targetDuration: number
  partTarget: number
  partHoldBack: number
  canBlockReload: boolean
  mediaSequence: number
  discontinuitySequence: number
  segments: LlPlaylistSegment[]
  /** URI of EXT-X-PRELOAD-HINT, if any. */
  hint: string | undefined
  ended: boolean
}

export interface LlPlaylistSegment {
  msn: number
  /** Null while the segment is still growing (only its parts are listed). */
  duration: number | null
  uri: string | null
  map: string | undefined
  programDateTime: number | undefined
  discontinuity: boolean
  parts: Array<{ duration: number; uri: string; independent: boolean }>
}

/** An attribute of a tag line, quoted or not. */
function attribute(line: string, name: string): string | undefined {
  const match = new RegExp(`[:,]${name}=(?:"([^"]*)"|([^,]*))`).exec(line)
  return match ? (match[1] ?? match[2]) : undefined
}

/** Parses the playlist text; segments carry their MSN, the open one last. */
export function parseLlPlaylist(text: string): LlPlaylist {
  const lines = text.split('\n')
  const value = (tag: string) => lines.find((l) => l.startsWith(`${tag}:`))?.slice(tag.length + 1)
  const control = value('#EXT-X-SERVER-CONTROL') ?? ''
  const playlist: LlPlaylist = {
    version: Number(value('#EXT-X-VERSION')),
    targetDuration: Number(value('#EXT-X-TARGETDURATION')),
    partTarget: Number(attribute(`:${value('#EXT-X-PART-INF') ?? ''}`, 'PART-TARGET')),
    partHoldBack: Number(attribute(`:${control}`, 'PART-HOLD-BACK')),
    canBlockReload: attribute(`:${control}`, 'CAN-BLOCK-RELOAD') === 'YES',
    mediaSequence: Number(value('#EXT-X-MEDIA-SEQUENCE')),
    discontinuitySequence: Number(value('#EXT-X-DISCONTINUITY-SEQUENCE') ?? 0),
    segments: [],
    hint: undefined,
    ended: lines.includes('#EXT-X-ENDLIST'),
  }
  let map: string | undefined
  let current: LlPlaylistSegment | undefined
  const open = () => {
    current ??= {
      msn: playlist.mediaSequence + playlist.segments.length,
      duration: null,
      uri: null,
      map,
      programDateTime: undefined,
      discontinuity: false,
      parts: [],
    }
    return current
  }
  let pendingDuration: number | null = null
  for (const line of lines) {
    if (line.startsWith('#EXT-X-MAP:')) {
      map = attribute(line, 'URI')
      if (current) current.map = map
    } else if (line === '#EXT-X-DISCONTINUITY') open().discontinuity = true
    else if (line.startsWith('#EXT-X-PROGRAM-DATE-TIME:')) open().programDateTime = Date.parse(line.slice(25))
    else if (line.startsWith('#EXT-X-PART:')) {
      open().parts.push({
        duration: Number(attribute(line, 'DURATION')),
        uri: attribute(line, 'URI') as string,
        independent: attribute(line, 'INDEPENDENT') === 'YES',
      })
    } else if (line.startsWith('#EXTINF:')) pendingDuration = Number.parseFloat(line.slice(8))
    else if (line.startsWith('#EXT-X-PRELOAD-HINT:')) playlist.hint = attribute(line, 'URI')
    else if (line !== '' && !line.startsWith('#')) {
      const segment = open()
      segment.duration = pendingDuration
      segment.uri = line
      playlist.segments.push(segment)
      current = undefined
      pendingDuration = null
    }
  }
  if (current) playlist.segments.push(current)
  return playlist
}

/** Number in a part URI (`part_12.m4s` → 12). */
export const partNumber = (uri: string) => Number(/part_(\d+)\.m4s/.exec(uri)?.[1])
