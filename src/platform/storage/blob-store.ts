/**
 * The one blob storage interface every feature uses (recordings, uploads, audiobook chapters).
 * Keys are relative, slash-separated paths such as `jobs/42/chapter_1.mp3`.
 */

/** Response headers a signed URL makes the storage answer with. */
export interface SignedUrlOptions {
  /** Seconds the URL stays valid. */
  expiresIn: number
  contentType?: string
  /** e.g. `inline` or `attachment; filename="book.mp3"` */
  contentDisposition?: string
  cacheControl?: string
}

export interface SignedUrl {
  url: string
  expiresAt: Date
}

/** Inclusive byte range, as in HTTP: `start`..`end` both included. */
export interface ByteRange {
  start: number
  end: number
}

export interface BlobInfo {
  key: string
  size: number
  contentType: string
  lastModified: Date
}

export interface BlobStore {
  /** `local` or `s3`: shown at startup and in /health. */
  readonly kind: 'local' | 's3'
  put(
    key: string,
    body: Uint8Array | Blob | ReadableStream<Uint8Array>,
    contentType: string,
  ): Promise<BlobInfo>
  /** null when the key does not exist. */
  stat(key: string): Promise<BlobInfo | null>
  /** The blob's bytes, or only `range` of them. Throws NotFoundError when missing. */
  read(key: string, range?: ByteRange): Promise<ReadableStream<Uint8Array>>
  delete(key: string): Promise<void>
  /** Deletes every key under `prefix` (e.g. `jobs/42/`). */
  deletePrefix(prefix: string): Promise<void>
  signedUrl(key: string, options: SignedUrlOptions): Promise<SignedUrl>
  /** Cheap reachability check for /health. */
  check(): Promise<void>
}
