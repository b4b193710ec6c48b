/**
 * The track catalog: library files for every signed-in user plus each user's own uploads, and the files behind
 * them for streaming. Routes and playback sessions look tracks up here; ids are only ever map keys, never paths.
 */
import { basename, relative, sep } from 'node:path'
import type { TrackConfig } from '../config.ts'
import type { RangeSource } from '../http/range.ts'
import type { Db } from '../platform/db/index.ts'
import { NotFoundError } from '../platform/errors.ts'
import { OpenFiles } from '../platform/open-files.ts'
import type { Track, TrackCatalog } from './catalog.ts'
import { AudioLibrary, type TrackFile } from './library.ts'
import { StreamFiles } from './stream-files.ts'
import { TrackUploads } from './uploads.ts'

export interface TrackServiceOptions {
  db: Db
  dataDir: string
  audioFilesDir: string
  limits: TrackConfig
}

/** Where nginx finds a track's file (X-Accel-Redirect mode). */
export interface AccelTarget {
  /** `<prefix>library/<path>` or `<prefix>uploads/<id>`, each segment percent-encoded. */
  uri: string
  folder: 'library' | 'uploads'
  /** The file's path inside `folder`, as it is. */
  file: string
  contentType: string
}

export class TrackService implements TrackCatalog {
  private constructor(
    /** TRACK_ACCEL_REDIRECT: set when nginx in front sends the stream paths' bytes (see `accelTarget`). */
    readonly accelRedirectPrefix: string | undefined,
    private readonly audioFilesDir: string,
    private readonly library: AudioLibrary,
    private readonly uploads: TrackUploads,
    /** Descriptors kept open for small range reads (a player fetches a track in many small ranges). */
    private readonly openFiles: OpenFiles,
    private readonly streamFiles: StreamFiles,
  ) {}

  /** Scans the library (resolving once the first scan is done), starts watching it, and loads stored uploads. */
  static async start(options: TrackServiceOptions): Promise<TrackService> {
    const uploads = await TrackUploads.open({
      db: options.db,
      dataDir: options.dataDir,
      maxFileBytes: options.limits.uploadMaxBytes,
    })
    const openFiles = new OpenFiles()
    let library: AudioLibrary | undefined
    const streamFiles = new StreamFiles({
      openFiles,
      // Changed under us without a watch event yet (or one still debouncing): make sure it is read again.
      onSizeChanged: (file) => {
        if (file.track.ownerId !== null) return
        const relative = library?.relativePathOf(file.track.id)
        if (relative !== undefined) library?.markChanged(relative)
      },
    })
    library = await AudioLibrary.open({ dir: options.audioFilesDir, onChange: () => streamFiles.forgetAll() })
    return new TrackService(
      options.limits.accelRedirectPrefix,
      options.audioFilesDir,
      library,
      uploads,
      openFiles,
      streamFiles,
    )
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
   * What to serve for `trackId`: the file as it is on disk (size and validators from a stat no older than the last
   * change the library saw, and at most STREAM_STAT_MAX_AGE_MS: see stream-files.ts; small ranges are read through
   * `openFiles`). NotFoundError when the user may not see the track or its file is gone.
   */
  streamSource(trackId: string, userId: string): RangeSource {
    const file = this.fileFor(trackId, userId)
    const source = file && this.streamFiles.source(file)
    if (!source) throw new NotFoundError('Track not found', 'TRACK_NOT_FOUND')
    return source
  }

  /**
   * Where nginx finds `trackId`'s file under the internal locations at `prefix` (X-Accel-Redirect mode): library files
   * as `<prefix>library/<relative path>`, uploads as `<prefix>uploads/<id>`, each segment percent-encoded.
   * NotFoundError when the user may not see the track.
   */
  accelTarget(trackId: string, userId: string, prefix: string): AccelTarget {
    const file = this.fileFor(trackId, userId)
    if (!file) throw new NotFoundError('Track not found', 'TRACK_NOT_FOUND')
    const folder = file.track.ownerId === null ? 'library' : 'uploads'
    const within = folder === 'library' ? relative(this.audioFilesDir, file.path) : basename(file.path)
    return {
      uri: `${prefix}${folder}/${within.split(sep).map(encodeURIComponent).join('/')}`,
      folder,
      file: within,
      contentType: file.track.mimeType,
    }
  }

  async close(): Promise<void> {
    await this.library.close()
    this.openFiles.closeAll()
  }

  private fileFor(trackId: string, userId: string): TrackFile | undefined {
    const libraryFile = this.library.get(trackId)
    if (libraryFile) return libraryFile
    const upload = this.uploads.get(trackId)
    return upload && upload.track.ownerId === userId ? upload : undefined
  }
}
