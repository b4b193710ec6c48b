/**
 * What a track's bytes say about it: tags and stream facts read with music-metadata, the container named the
 * way the API names formats, and titles taken from the file name when the tags have none.
 */
import { basename, extname } from 'node:path'
import { type IAudioMetadata, parseFile } from 'music-metadata'
import { cleanTitle } from '../platform/display-text.ts'
import type { TrackInfo } from './catalog.ts'

const UNKNOWN_ARTIST = 'Unknown Artist'

/** Longest title, artist or album kept, in characters: tags are attacker-controlled in uploads. */
const MAX_TAG_LENGTH = 300

/** Formats by music-metadata container name; the first whose pattern matches wins. */
const FORMATS: Array<{ container: RegExp; codec?: RegExp; format: string; mimeType: string }> = [
  { container: /^MPEG$/, codec: /Layer 2/, format: 'mp2', mimeType: 'audio/mpeg' },
  { container: /^MPEG$/, format: 'mp3', mimeType: 'audio/mpeg' },
  { container: /^FLAC$/, format: 'flac', mimeType: 'audio/flac' },
  { container: /^Ogg$/, codec: /Opus/i, format: 'opus', mimeType: 'audio/ogg' },
  { container: /^Ogg$/, format: 'ogg', mimeType: 'audio/ogg' },
  { container: /^WAVE$/, format: 'wav', mimeType: 'audio/wav' },
  { container: /^(M4A|M4B|mp4|isom|iso\d|MPEG-4)/i, format: 'm4a', mimeType: 'audio/mp4' },
  { container: /^ADTS$/, format: 'aac', mimeType: 'audio/aac' },
  { container: /^AIFF/, format: 'aiff', mimeType: 'audio/aiff' },
  { container: /^webm$/i, format: 'webm', mimeType: 'audio/webm' },
  { container: /^(EBML\/)?matroska$/i, format: 'mka', mimeType: 'audio/x-matroska' },
  { container: /^ASF/, format: 'wma', mimeType: 'audio/x-ms-wma' },
  { container: /^WavPack$/, format: 'wv', mimeType: 'audio/x-wavpack' },
]

/** File name extensions the library picks up; anything else in the folder is ignored. */
const AUDIO_EXTENSIONS = new Set([
  '.mp3',
  '.mp2',
  '.flac',
  '.ogg',
  '.oga',
  '.opus',
  '.wav',
  '.m4a',
  '.m4b',
  '.aac',
  '.aif',
  '.aiff',
  '.webm',
  '.weba',
  '.mka',
  '.wma',
  '.wv',
])

export function hasAudioExtension(path: string): boolean {
  return AUDIO_EXTENSIONS.has(extname(path).toLowerCase())
}

/**
 * Reads `path` and describes it, or returns undefined when its content is not audio music-metadata can read
 * (unknown signature, no audio stream, or no recognisable container). The format comes from the content; only a
 * file whose name ends in a known extension gets that extension as a parsing hint, so a stored upload (no
 * extension) is judged by its bytes alone. `fileName` supplies the fallback title and artist.
 */
export async function readTrackInfo(path: string, fileName: string): Promise<TrackInfo | undefined> {
  let metadata: IAudioMetadata
  try {
    metadata = await parseFile(path, { duration: false, skipCovers: true })
  } catch {
    return undefined
  }
  const { format, common } = metadata
  if (format.hasAudio === false || format.container === undefined) return undefined
  const known = FORMATS.find(
    (f) => f.container.test(format.container ?? '') && (!f.codec || f.codec.test(format.codec ?? '')),
  )
  if (!known) return undefined
  const fromName = nameParts(fileName)
  return {
    title: tag(common.title) ?? fromName.title,
    artist: tag(common.artist) ?? tag(common.albumartist) ?? fromName.artist ?? UNKNOWN_ARTIST,
    album: tag(common.album) ?? null,
    duration: positive(format.duration, (seconds) => Math.round(seconds * 1000) / 1000),
    bitrate: positive(format.bitrate, (bps) => Math.round(bps / 1000)),
    format: known.format,
    codec: tag(format.codec) ?? null,
    mimeType: known.mimeType,
  }
}

/**
 * Title and artist from a file name: `Artist - Title.mp3` gives both, `01 - Title.mp3` and `01. Title.mp3` drop
 * the track number, anything else is the title; underscores read as spaces.
 */
export function nameParts(fileName: string): { title: string; artist: string | undefined } {
  const stem = basename(fileName, extname(fileName)).replaceAll('_', ' ')
  const parts = stem.split(' - ').map(clean)
  const [first = '', ...rest] = parts
  const remainder = rest.join(' - ')
  if (rest.length > 0 && first !== '' && remainder !== '') {
    if (/^\d{1,3}$/.test(first)) return { title: remainder, artist: undefined }
    return { title: remainder, artist: first }
  }
  const title = clean(stem.replace(/^\d{1,3}\.\s+/, ''))
  return { title: title === '' ? 'Untitled' : title, artist: undefined }
}

function clean(text: string): string {
  return cleanTitle(text).slice(0, MAX_TAG_LENGTH)
}

function tag(value: string | undefined): string | undefined {
  if (value === undefined) return undefined
  const cleaned = clean(value)
  return cleaned === '' ? undefined : cleaned
}

function positive(value: number | undefined, shape: (v: number) => number): number {
  return value !== undefined && Number.isFinite(value) && value > 0 ? shape(value) : 0
}
