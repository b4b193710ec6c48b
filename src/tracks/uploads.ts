/**
 * Tracks users upload: streamed to disk under TRACK_UPLOAD_MAX_MB, judged by their bytes (never by the file
 * name), kept as `DATA_DIR/uploads/tracks/<id>` with a `track_uploads` row, and visible to their owner only.
 */
import { randomUUID } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdir, rename, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { asc } from 'drizzle-orm'
import { type MultipartRules, receiveMultipart, sizeText } from '../http/multipart-upload.ts'
import type { Db } from '../platform/db/index.ts'
import { BadRequestError, PayloadTooLargeError, UnsupportedMediaTypeError } from '../platform/errors.ts'
import { log as rootLog } from '../platform/log.ts'
import type { Track } from './catalog.ts'
import type { TrackFile } from './library.ts'
import { readTrackInfo } from './metadata.ts'
import { trackUploads } from './schema.ts'

export interface TrackUploadsOptions {
  db: Db
  dataDir: string
  /** Largest upload accepted, in bytes (TRACK_UPLOAD_MAX_MB). */
  maxFileBytes: number
  log?: Pick<typeof rootLog, 'warn'>
}

/** An upload may carry a few small text fields besides its file; they are read and ignored. */
const MAX_FIELDS = 8
const MAX_FIELD_BYTES = 4096

/** A new upload's id: 64 random bits in hex, the same shape as a library id. */
function newUploadId(): string {
  return Buffer.from(crypto.getRandomValues(new Uint8Array(8))).toString('hex')
}

export class TrackUploads {
  private readonly byId = new Map<string, TrackFile>()
  /** Each owner's tracks, oldest first. */
  private readonly byOwner = new Map<string, Track[]>()
  private readonly dir: string
  private readonly stagingDir: string

  private constructor(private readonly options: TrackUploadsOptions) {
    this.dir = join(options.dataDir, 'uploads', 'tracks')
    this.stagingDir = join(options.dataDir, 'staging', 'tracks')
  }

  /** Loads every stored upload whose file this instance holds. */
  static async open(options: TrackUploadsOptions): Promise<TrackUploads> {
    const uploads = new TrackUploads(options)
    await mkdir(uploads.dir, { recursive: true })
    // Whatever a crash left half-received is worthless.
    await rm(uploads.stagingDir, { recursive: true, force: true })
    const rows = await options.db.select().from(trackUploads).orderBy(asc(trackUploads.createdAt))
    for (const row of rows) {
      const path = join(uploads.dir, row.id)
      if (!existsSync(path)) {
        // Another instance's upload (its own DATA_DIR), or a file removed by hand.
        ;(options.log ?? rootLog).warn({ trackId: row.id }, 'uploaded track file missing; not listed')
        continue
      }
      const { id, ownerId, title, artist, album, duration, bitrate, format, codec, mimeType, size } = row
      uploads.remember({
        track: { id, title, artist, album, duration, bitrate, format, codec, size, mimeType, ownerId },
        path,
      })
    }
    return uploads
  }

  get(trackId: string): TrackFile | undefined {
    return this.byId.get(trackId)
  }

  /** `ownerId`'s uploads, oldest first. */
  ownedBy(ownerId: string): Track[] {
    return this.byOwner.get(ownerId) ?? []
  }

  /**
   * Receives the multipart `file` of `request` as a new track owned by `ownerId`. Throws 413 past the size
   * limit, 415 for a body that is not multipart or a file that is not audio, 400 for a missing or empty file.
   */
  async add(ownerId: string, request: Request): Promise<Track> {
    const staging = join(this.stagingDir, randomUUID())
    try {
      const form = await receiveMultipart(request, staging, this.rules())
      const [file] = form.files
      if (!file) throw new BadRequestError('Send the audio file in a "file" field', 'FILE_REQUIRED')
      if (file.size === 0) throw new BadRequestError('The uploaded file is empty', 'EMPTY_FILE')
      const info = await readTrackInfo(file.path, file.name)
      if (!info) {
        throw new UnsupportedMediaTypeError(
          'The uploaded file is not an audio file this server can read',
          'NOT_AUDIO',
        )
      }
      const id = newUploadId()
      const path = join(this.dir, id)
      const track: Track = { ...info, id, size: file.size, ownerId }
      await rename(file.path, path)
      try {
        await this.options.db.insert(trackUploads).values({ ...track, fileName: file.name, ownerId })
      } catch (error) {
        await rm(path, { force: true })
        throw error
      }
      this.remember({ track, path })
      return track
    } finally {
      await rm(staging, { recursive: true, force: true })
    }
  }

  private remember(file: TrackFile): void {
    this.byId.set(file.track.id, file)
    const owner = file.track.ownerId as string
    const owned = this.byOwner.get(owner)
    if (owned) owned.push(file.track)
    else this.byOwner.set(owner, [file.track])
  }

  private rules(): MultipartRules {
    const limit = this.options.maxFileBytes
    const tooLarge = () =>
      new PayloadTooLargeError(
        `The upload is larger than ${sizeText(limit)}, the most a track may be`,
        'FILE_TOO_LARGE',
      )
    return {
      fileField: 'file',
      maxFileBytes: limit,
      maxTotalBytes: limit,
      maxFiles: 1,
      maxFields: MAX_FIELDS,
      maxFieldBytes: MAX_FIELD_BYTES,
      errors: {
        notMultipart: () =>
          new UnsupportedMediaTypeError(
            'Send the track as multipart/form-data with the audio in a "file" field',
          ),
        unexpectedFile: (field) =>
          new BadRequestError(
            `Unexpected file field "${field}": send the audio as "file"`,
            'UNEXPECTED_FILE',
          ),
        fileTooLarge: tooLarge,
        totalTooLarge: tooLarge,
        tooManyFiles: () => new BadRequestError('Send one file per upload', 'TOO_MANY_FILES'),
      },
    }
  }
}
