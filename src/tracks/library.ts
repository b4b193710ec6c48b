/**
 * The music folder (AUDIO_FILES_DIR): scanned recursively at start, then watched. Change events are collected and
 * applied after a quiet spell (debounce), so a file being copied in is read once it stops changing, and read
 * again whenever it changes later: a half-written file never stays half-read.
 */
import { createHash } from 'node:crypto'
import { type FSWatcher, watch } from 'node:fs'
import { lstat, mkdir, readdir } from 'node:fs/promises'
import { basename, join, sep } from 'node:path'
import { log as rootLog } from '../platform/log.ts'
import type { Track } from './catalog.ts'
import { hasAudioExtension, readTrackInfo } from './metadata.ts'

/** A track and the file holding its bytes (the path never leaves the server). */
export interface TrackFile {
  track: Track
  path: string
}

interface LibraryEntry extends TrackFile {
  relativePath: string
  /** What the metadata was read from; a change in either means reading it again. */
  size: number
  mtimeMs: number
}

export interface AudioLibraryOptions {
  dir: string
  /** Quiet time after the last change event before changed files are read again. */
  debounceMs?: number
  /** Longest a burst of change events may postpone reading (a folder that never stops changing). */
  maxDelayMs?: number
  /** Most files the library holds; files past it are left out with a warning. */
  maxFiles?: number
  log?: Pick<typeof rootLog, 'warn' | 'error'>
  /**
   * Called at once (before the debounce) whenever something at or under the folder may have changed: a watch
   * event, a failed watcher, or `markChanged`. Whatever is kept about the files' bytes must be checked again.
   */
  onChange?: () => void
}

const DEFAULT_DEBOUNCE_MS = 300
const DEFAULT_MAX_DELAY_MS = 3000
const DEFAULT_MAX_LIBRARY_FILES = 100_000
/** Files whose metadata is read at the same time during a scan. */
const READ_CONCURRENCY = 4
/** The whole folder, as a dirty path. */
const ROOT = ''

/**
 * A library file's id: the first 64 bits of SHA-256 over its path relative to the folder, in hex. The same file
 * keeps its id across restarts and rescans whatever order files are found in; a renamed file is a new track.
 */
export function libraryTrackId(relativePath: string): string {
  return createHash('sha256').update(`library:${relativePath}`).digest('hex').slice(0, 16)
}

export class AudioLibrary {
  private readonly byPath = new Map<string, LibraryEntry>()
  private readonly byId = new Map<string, LibraryEntry>()
  private sorted: Track[] | undefined
  private readonly dirty = new Set<string>()
  private debounce: Timer | undefined
  private firstDirtyAt = 0
  private work: Promise<void> = Promise.resolve()
  private watcher: FSWatcher | undefined
  private closed = false
  private warnedFull = false
  private readonly debounceMs: number
  private readonly maxDelayMs: number
  private readonly maxFiles: number
  private readonly log: Pick<typeof rootLog, 'warn' | 'error'>
  private readonly onChange: (() => void) | undefined

  private constructor(
    readonly dir: string,
    options: AudioLibraryOptions,
  ) {
    this.debounceMs = options.debounceMs ?? DEFAULT_DEBOUNCE_MS
    this.maxDelayMs = options.maxDelayMs ?? DEFAULT_MAX_DELAY_MS
    this.maxFiles = options.maxFiles ?? DEFAULT_MAX_LIBRARY_FILES
    this.log = options.log ?? rootLog
    this.onChange = options.onChange
  }

  /** Creates the folder if needed, starts watching it, and resolves once the first full scan is done. */
  static async open(options: AudioLibraryOptions): Promise<AudioLibrary> {
    const library = new AudioLibrary(options.dir, options)
    await mkdir(options.dir, { recursive: true })
    // Watch before scanning, so a file added during the scan is not missed.
    library.watch()
    await library.reconcile([ROOT])
    return library
  }

  get(trackId: string): TrackFile | undefined {
    return this.byId.get(trackId)
  }

  /** Every library track, ordered by path. */
  tracks(): Track[] {
    this.sorted ??= [...this.byPath.values()]
      .sort((a, b) => (a.relativePath < b.relativePath ? -1 : a.relativePath > b.relativePath ? 1 : 0))
      .map((entry) => entry.track)
    return this.sorted
  }

  get size(): number {
    return this.byPath.size
  }

  /** Tells the library that `relativePath` may have changed (e.g. it was served with another size than listed). */
  markChanged(relativePath: string): void {
    if (this.closed) return
    this.onChange?.()
    if (this.dirty.size === 0) this.firstDirtyAt = Date.now()
    this.dirty.add(relativePath)
    clearTimeout(this.debounce)
    const overdue = Date.now() - this.firstDirtyAt >= this.maxDelayMs
    this.debounce = setTimeout(() => this.flush(), overdue ? 0 : this.debounceMs)
  }

  /** The path a served file lives under, for `markChanged`. */
  relativePathOf(trackId: string): string | undefined {
    return this.byId.get(trackId)?.relativePath
  }

  async close(): Promise<void> {
    this.closed = true
    clearTimeout(this.debounce)
    this.watcher?.close()
    await this.work
  }

  private watch(): void {
    this.watcher = watch(this.dir, { recursive: true }, (_event, name) => {
      this.markChanged(name === null ? ROOT : String(name).split(sep).join('/'))
    })
    this.watcher.on('error', (error) => {
      // inotify can overflow or lose the folder: watch afresh and rescan everything rather than trust what we have.
      this.log.warn(
        { err: error, dir: this.dir },
        'track library watcher failed; watching again and rescanning',
      )
      this.watcher?.close()
      this.watcher = undefined
      if (this.closed) return
      try {
        this.watch()
      } catch (again) {
        this.log.error({ err: again, dir: this.dir }, 'track library can no longer watch its folder')
      }
      this.markChanged(ROOT)
    })
  }

  private flush(): void {
    clearTimeout(this.debounce)
    const paths = [...this.dirty]
    this.dirty.clear()
    this.work = this.work
      .then(() => this.reconcile(paths))
      .catch((error: unknown) => this.log.error({ err: error, dir: this.dir }, 'track library update failed'))
  }

  /** Brings every entry at or under each of `paths` in line with the disk. */
  private async reconcile(paths: string[]): Promise<void> {
    for (const path of outermost(paths)) {
      if (this.closed) return
      if (isHidden(path)) continue
      const absolute = path === ROOT ? this.dir : join(this.dir, path)
      const stats = await lstat(absolute).catch(() => undefined)
      if (stats?.isDirectory()) {
        const found = await this.walk(absolute, path)
        this.removeUnder(path, found)
        await forEachLimited([...found.entries()], READ_CONCURRENCY, ([relative, fileStats]) =>
          this.upsert(relative, fileStats),
        )
      } else if (stats?.isFile() && hasAudioExtension(path)) {
        this.removeUnder(path, new Map([[path, stats]]))
        await this.upsert(path, stats)
      } else {
        this.removeUnder(path, new Map())
      }
    }
  }

  /** Regular audio files under `absolute`, by relative path. Symbolic links and hidden names are skipped. */
  private async walk(absolute: string, relative: string): Promise<Map<string, FileStats>> {
    const found = new Map<string, FileStats>()
    const pending: Array<[string, string]> = [[absolute, relative]]
    while (pending.length > 0) {
      const [dir, rel] = pending.pop() as [string, string]
      const children = await readdir(dir, { withFileTypes: true }).catch(() => [])
      for (const child of children) {
        if (child.name.startsWith('.')) continue
        const childRel = rel === ROOT ? child.name : `${rel}/${child.name}`
        const childAbs = join(dir, child.name)
        if (child.isDirectory()) pending.push([childAbs, childRel])
        else if (child.isFile() && hasAudioExtension(child.name)) {
          const stats = await lstat(childAbs).catch(() => undefined)
          if (stats?.isFile()) found.set(childRel, stats)
        }
      }
    }
    return found
  }

  /** Drops entries at or under `path` that are not in `keep`. */
  private removeUnder(path: string, keep: Map<string, FileStats>): void {
    const prefix = path === ROOT ? '' : `${path}/`
    for (const [relative, entry] of this.byPath) {
      if ((relative === path || relative.startsWith(prefix)) && !keep.has(relative)) this.remove(entry)
    }
  }

  private remove(entry: LibraryEntry): void {
    this.byPath.delete(entry.relativePath)
    this.byId.delete(entry.track.id)
    this.sorted = undefined
  }

  private isFull(): boolean {
    if (this.byPath.size < this.maxFiles) return false
    if (!this.warnedFull) {
      this.warnedFull = true
      this.log.warn({ dir: this.dir, maxFiles: this.maxFiles }, 'track library is full; ignoring more files')
    }
    return true
  }

  private async upsert(relativePath: string, stats: FileStats): Promise<void> {
    const existing = this.byPath.get(relativePath)
    if (existing && existing.size === stats.size && existing.mtimeMs === stats.mtimeMs) return
    if (!existing && this.isFull()) return
    const path = join(this.dir, relativePath)
    const info = await readTrackInfo(path, basename(relativePath))
    // Reads run concurrently: check again, now that the others may have filled the library.
    if (this.closed || (!existing && this.isFull())) return
    if (!info) {
      // Not audio (yet: a copy may have just begun); the next change reads it again.
      if (existing) this.remove(existing)
      return
    }
    const id = libraryTrackId(relativePath)
    const entry: LibraryEntry = {
      track: { ...info, id, size: stats.size, ownerId: null },
      path,
      relativePath,
      size: stats.size,
      mtimeMs: stats.mtimeMs,
    }
    this.byPath.set(relativePath, entry)
    this.byId.set(id, entry)
    this.sorted = undefined
  }
}

interface FileStats {
  size: number
  mtimeMs: number
}

function isHidden(path: string): boolean {
  return path.split('/').some((segment) => segment.startsWith('.'))
}

/** The paths that are not inside another of them (the root covers everything). */
function outermost(paths: string[]): string[] {
  if (paths.includes(ROOT)) return [ROOT]
  const unique = [...new Set(paths)].sort()
  return unique.filter((path) => !unique.some((other) => other !== path && path.startsWith(`${other}/`)))
}

async function forEachLimited<T>(items: T[], limit: number, run: (item: T) => Promise<void>): Promise<void> {
  let next = 0
  const worker = async () => {
    while (next < items.length) await run(items[next++] as T)
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker))
}
