/**
 * What track streaming serves for each file, built once per version of the file: its size, validators (ETag,
 * Last-Modified and its HTTP-date text) and the RangeSource reading it, instead of on every range a player fetches.
 *
 * A version is (device, inode, size, mtime) from a stat of the path. That stat is taken again when the cached one
 * is older than `maxAgeMs`, and at once after `forgetAll()`, which the library calls from its watcher as soon as
 * anything in the folder changes (before its own debounce). So a file replaced or rewritten on disk is never served
 * with the old length or ETag once the change is seen, and at most `maxAgeMs` later where no watcher sees it. A file
 * replaced meanwhile (a new inode, as copies and uploads are made) never has its bytes sent under the old headers:
 * small ranges are read from a descriptor of the very file that was stat'ed (src/platform/open-files.ts checks on
 * opening), and whole files and large ranges, opened by path, are checked against a fresh stat first. A file found
 * changed that way, or shrunk under a kept length, is a 503 FILE_CHANGED (and forgotten, so a retry gets the new
 * version). Only a rewrite in place, seen by no watcher, can be read within those `maxAgeMs` under the old ETag.
 */
import { statSync } from 'node:fs'
import { fileSource, type RangeSource } from '../http/range.ts'
import type { OpenFiles } from '../platform/open-files.ts'
import type { Track } from './catalog.ts'
import type { TrackFile } from './library.ts'

/** Longest a stat is trusted without a watcher event saying otherwise. */
export const STREAM_STAT_MAX_AGE_MS = 100
/** Most files remembered; past it the least recently built goes first. */
const MAX_FILES = 1024

interface StreamFile {
  /** The catalog entry it was built for: a rescan that replaces the entry replaces this too. */
  track: Track
  dev: number
  ino: number
  size: number
  mtimeMs: number
  source: RangeSource
  /** `now()` at the stat the version was confirmed by. */
  checkedAt: number
}

export interface StreamFilesOptions {
  openFiles: OpenFiles
  maxAgeMs?: number
  /** Called when a file's size on disk differs from the catalog's (so the library reads it again). */
  onSizeChanged?: (file: TrackFile) => void
  now?: () => number
}

export class StreamFiles {
  private readonly files = new Map<string, StreamFile>()
  private readonly maxAgeMs: number
  private readonly now: () => number

  constructor(private readonly options: StreamFilesOptions) {
    this.maxAgeMs = options.maxAgeMs ?? STREAM_STAT_MAX_AGE_MS
    this.now = options.now ?? performance.now.bind(performance)
  }

  /** What to serve for `file` as it is on disk now; undefined when it is gone or no longer a regular file. */
  source(file: TrackFile): RangeSource | undefined {
    const cached = this.files.get(file.path)
    const now = this.now()
    if (cached !== undefined && cached.track === file.track && now - cached.checkedAt < this.maxAgeMs) {
      return cached.source
    }
    const stats = statSync(file.path, { throwIfNoEntry: false })
    if (!stats?.isFile()) {
      this.files.delete(file.path)
      return undefined
    }
    if (stats.size !== file.track.size) this.options.onSizeChanged?.(file)
    if (
      cached !== undefined &&
      cached.track === file.track &&
      cached.dev === stats.dev &&
      cached.ino === stats.ino &&
      cached.size === stats.size &&
      cached.mtimeMs === stats.mtimeMs
    ) {
      cached.checkedAt = now
      return cached.source
    }
    const version = {
      track: file.track,
      dev: stats.dev,
      ino: stats.ino,
      size: stats.size,
      mtimeMs: stats.mtimeMs,
      checkedAt: now,
    }
    const source = fileSource(Bun.file(file.path), {
      size: stats.size,
      lastModified: stats.mtime,
      contentType: file.track.mimeType,
      // Whole files and large ranges are opened by path: checked against a fresh stat, as they cost far more anyway.
      unchanged: () => this.unchanged(file.path, version),
      smallRanges: {
        openFiles: this.options.openFiles,
        path: file.path,
        identity: { dev: stats.dev, ino: stats.ino },
      },
    })
    this.files.delete(file.path)
    if (this.files.size >= MAX_FILES) {
      const oldest = this.files.keys().next()
      if (!oldest.done) this.files.delete(oldest.value)
    }
    this.files.set(file.path, { ...version, source })
    return source
  }

  /** Whether `path` is still the version kept; if not, it is forgotten, so the next request stats it again. */
  private unchanged(path: string, version: Omit<StreamFile, 'source'>): boolean {
    const stats = statSync(path, { throwIfNoEntry: false })
    const same =
      stats !== undefined &&
      stats.dev === version.dev &&
      stats.ino === version.ino &&
      stats.size === version.size &&
      stats.mtimeMs === version.mtimeMs
    if (!same && this.files.get(path)?.track === version.track) this.files.delete(path)
    return same
  }

  /** Something on disk changed: every file is stat'ed again before it is next served. */
  forgetAll(): void {
    this.files.clear()
  }

  get size(): number {
    return this.files.size
  }
}
