/**
 * The track catalog: library files for every signed-in user plus each user's own uploads, and the files behind
 * them for streaming. Routes and playback sessions look tracks up here; ids are only ever map keys, never paths.
 */
import { statSync } from 'node:fs'
import type { TrackConfig } from '../config.ts'
import { fileSource, type RangeSource } from '../http/range.ts'
import type { Db } from '../platform/db/index.ts'
import { NotFoundError } from '../platform/errors.ts'
import type { Track, TrackCatalog } from './catalog.ts'
import { AudioLibrary, type AudioLibraryOptions, type TrackFile } from './library.ts'
import { TrackUploads } from './uploads.ts'

export interface TrackServiceOptions {
  db: Db
  dataDir: string
  audioFilesDir: string
  limits: TrackConfig
  /** Watcher tuning for tests; defaults otherwise. */
  library?: Omit<AudioLibraryOptions, 'dir'>
}

export class TrackService implements TrackCatalog {
  private constructor(
    readonly library: AudioLibrary,
    private readonly uploads: TrackUploads,
  ) {}

  /** Scans the library (resolving once the first scan is done), starts watching it, and loads stored uploads. */
  static async start(options: TrackServiceOptions): Promise<TrackService> {
    const uploads = await TrackUploads.open({
      db: options.db,
      dataDir: options.dataDir,
      maxFileBytes: options.limits.uploadMaxBytes,
    })
    const library = await AudioLibrary.open({ ...options.library, dir: options.audioFilesDir })
    return new TrackService(library, uploads)
  }

  find(trackId: string, userId: string): Track | undefined {
    return this.fileFor(trackId, userId)?.track
  }

  /** The library, ordered by path, then the user's uploads, oldest first. */
  list(userId: string): Track[] {
    return [...this.library.tracks(), ...this.uploads.ownedBy(userId)]
  }

  /** Stores the multipart `file` of `request` as `userId`'s track (see TrackUploads.add for the refusals). */
  upload(userId: string, request: Request): Promise<Track> {
    return this.uploads.add(userId, request)
  }

  /**
   * What to serve for `trackId`: the file as it is on disk right now (size and date from a fresh stat, so a file
   * replaced since the last scan is never served with stale lengths). NotFoundError when the user may not see the
   * track or its file is gone.
   */
  streamSource(trackId: string, userId: string): RangeSource {
    const file = this.fileFor(trackId, userId)
    const stats = file && statSync(file.path, { throwIfNoEntry: false })
    if (!file || !stats?.isFile()) throw new NotFoundError('Track not found', 'TRACK_NOT_FOUND')
    if (stats.size !== file.track.size && file.track.ownerId === null) {
      // Changed under us without a watch event yet (or one still debouncing): make sure it is read again.
      const relative = this.library.relativePathOf(trackId)
      if (relative !== undefined) this.library.markChanged(relative)
    }
    return fileSource(Bun.file(file.path), {
      size: stats.size,
      lastModified: stats.mtime,
      contentType: file.track.mimeType,
    })
  }

  async close(): Promise<void> {
    await this.library.close()
  }

  private fileFor(trackId: string, userId: string): TrackFile | undefined {
    const libraryFile = this.library.get(trackId)
    if (libraryFile) return libraryFile
    const upload = this.uploads.get(trackId)
    return upload && upload.track.ownerId === userId ? upload : undefined
  }
}
