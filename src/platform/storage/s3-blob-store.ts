/** Blobs in an S3 bucket (AWS, MinIO, R2, ...) for multi-node deployments; clients download via pre-signed URLs. */
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3'
import { getSignedUrl } from '@aws-sdk/s3-request-presigner'
import { NotFoundError, RangeNotSatisfiableError } from '../errors.ts'
import type { BlobInfo, BlobStore, ByteRange, SignedUrl, SignedUrlOptions } from './blob-store.ts'
import { assertValidKey, assertValidPrefix } from './keys.ts'

export interface S3BlobStoreOptions {
  /** For S3-compatible services; AWS when absent. */
  endpoint?: string
  region: string
  bucket: string
  /** Both or neither; without them the SDK's default credential chain applies. */
  accessKeyId?: string
  secretAccessKey?: string
  /** Path-style URLs (`endpoint/bucket/key`), needed by most self-hosted S3-compatible services. */
  forcePathStyle?: boolean
}

/**
 * Bodies are uploaded in parts of this size, so memory stays bounded for any length of stream while each
 * request still has the Content-Length (and payload hash over plain HTTP) that S3 requires. S3's minimum is 5 MiB.
 */
export const PART_SIZE = 8 * 1024 * 1024

/** SigV4 query signatures cannot outlive 7 days. */
const MAX_PRESIGN_SECONDS = 7 * 24 * 60 * 60

export class S3BlobStore implements BlobStore {
  readonly kind = 's3'
  private readonly client: S3Client
  private readonly bucket: string

  constructor(options: S3BlobStoreOptions) {
    const { accessKeyId, secretAccessKey } = options
    this.bucket = options.bucket
    this.client = new S3Client({
      endpoint: options.endpoint,
      region: options.region,
      forcePathStyle: options.forcePathStyle ?? false,
      credentials: accessKeyId && secretAccessKey ? { accessKeyId, secretAccessKey } : undefined,
      // The SDK's default CRC32 checksums on every request are rejected by several S3-compatible services.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    })
  }

  async put(
    key: string,
    body: Uint8Array | Blob | ReadableStream<Uint8Array>,
    contentType: string,
  ): Promise<BlobInfo> {
    assertValidKey(key)
    const parts = partsOf(
      body instanceof ReadableStream ? body : new Blob([body as Uint8Array<ArrayBuffer>]).stream(),
    )
    const first = await parts.next()
    const second = await parts.next()
    if (second.done) {
      const Body = first.done ? new Uint8Array(0) : first.value
      await this.client.send(
        new PutObjectCommand({ Bucket: this.bucket, Key: key, Body, ContentType: contentType }),
      )
    } else {
      await this.putMultipart(key, contentType, first.value as Uint8Array, second.value, parts)
    }
    const info = await this.stat(key)
    if (!info) throw new NotFoundError(`Blob ${key} vanished right after being written`)
    return info
  }

  private async putMultipart(
    key: string,
    contentType: string,
    first: Uint8Array,
    second: Uint8Array,
    rest: AsyncGenerator<Uint8Array>,
  ): Promise<void> {
    const target = { Bucket: this.bucket, Key: key }
    const { UploadId } = await this.client.send(
      new CreateMultipartUploadCommand({ ...target, ContentType: contentType }),
    )
    try {
      const uploaded: { ETag: string | undefined; PartNumber: number }[] = []
      const upload = async (Body: Uint8Array) => {
        const PartNumber = uploaded.length + 1
        const { ETag } = await this.client.send(
          new UploadPartCommand({ ...target, UploadId, PartNumber, Body }),
        )
        uploaded.push({ ETag, PartNumber })
      }
      await upload(first)
      await upload(second)
      for await (const part of rest) await upload(part)
      await this.client.send(
        new CompleteMultipartUploadCommand({ ...target, UploadId, MultipartUpload: { Parts: uploaded } }),
      )
    } catch (error) {
      // Unfinished uploads are billed storage until aborted.
      await this.client.send(new AbortMultipartUploadCommand({ ...target, UploadId })).catch(() => undefined)
      throw error
    }
  }

  async stat(key: string): Promise<BlobInfo | null> {
    assertValidKey(key)
    try {
      const head = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }))
      return {
        key,
        size: head.ContentLength ?? 0,
        contentType: head.ContentType ?? 'application/octet-stream',
        lastModified: head.LastModified ?? new Date(0),
      }
    } catch (error) {
      if (httpStatusOf(error) === 404) return null
      throw error
    }
  }

  async read(key: string, range?: ByteRange): Promise<ReadableStream<Uint8Array>> {
    assertValidKey(key)
    if (range && (range.start < 0 || range.end < range.start)) throw await this.unsatisfiable(key)
    try {
      const object = await this.client.send(
        new GetObjectCommand({
          Bucket: this.bucket,
          Key: key,
          Range: range ? `bytes=${range.start}-${range.end}` : undefined,
        }),
      )
      if (!object.Body) throw new NotFoundError(`Blob ${key} has no body`)
      return object.Body.transformToWebStream() as ReadableStream<Uint8Array>
    } catch (error) {
      const status = httpStatusOf(error)
      if (status === 404) throw new NotFoundError(`Blob ${key} not found`)
      if (status === 416) throw await this.unsatisfiable(key)
      throw error
    }
  }

  private async unsatisfiable(key: string): Promise<Error> {
    const info = await this.stat(key)
    return info ? new RangeNotSatisfiableError(info.size) : new NotFoundError(`Blob ${key} not found`)
  }

  async delete(key: string): Promise<void> {
    assertValidKey(key)
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }))
  }

  async deletePrefix(prefix: string): Promise<void> {
    assertValidPrefix(prefix)
    let ContinuationToken: string | undefined
    do {
      // A page holds at most 1000 keys, which is also DeleteObjects' limit.
      const page = await this.client.send(
        new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, ContinuationToken }),
      )
      const Objects = (page.Contents ?? []).flatMap(({ Key }) => (Key ? [{ Key }] : []))
      if (Objects.length > 0) {
        const result = await this.client.send(
          new DeleteObjectsCommand({ Bucket: this.bucket, Delete: { Objects, Quiet: true } }),
        )
        const [failure] = result.Errors ?? []
        if (failure)
          throw new Error(`Could not delete ${failure.Key} from S3: ${failure.Code} ${failure.Message}`)
      }
      ContinuationToken = page.IsTruncated ? page.NextContinuationToken : undefined
    } while (ContinuationToken)
  }

  async signedUrl(key: string, options: SignedUrlOptions): Promise<SignedUrl> {
    assertValidKey(key)
    const { expiresIn } = options
    if (!Number.isInteger(expiresIn) || expiresIn <= 0 || expiresIn > MAX_PRESIGN_SECONDS) {
      throw new RangeError(`expiresIn must be a whole number of seconds from 1 to ${MAX_PRESIGN_SECONDS}`)
    }
    const expiresAt = new Date(Date.now() + expiresIn * 1000)
    const command = new GetObjectCommand({
      Bucket: this.bucket,
      Key: key,
      ResponseContentType: options.contentType,
      ResponseContentDisposition: options.contentDisposition,
      ResponseCacheControl: options.cacheControl,
    })
    return { url: await getSignedUrl(this.client, command, { expiresIn }), expiresAt }
  }

  async check(): Promise<void> {
    await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }))
  }

  /** Closes the client's pooled connections. */
  close(): void {
    this.client.destroy()
  }
}

function httpStatusOf(error: unknown): number | undefined {
  return (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode
}

/** Regroups a stream into `PART_SIZE` chunks (the last one shorter), copying only to join small chunks. */
async function* partsOf(stream: ReadableStream<Uint8Array>): AsyncGenerator<Uint8Array> {
  const reader = stream.getReader()
  let pending: Uint8Array[] = []
  let pendingBytes = 0
  try {
    while (true) {
      const { done, value } = await reader.read()
      if (done) break
      pending.push(value)
      pendingBytes += value.length
      while (pendingBytes >= PART_SIZE) {
        const joined = pending.length === 1 ? (pending[0] as Uint8Array) : Buffer.concat(pending)
        yield joined.subarray(0, PART_SIZE)
        const rest = joined.subarray(PART_SIZE)
        pending = rest.length > 0 ? [rest] : []
        pendingBytes = rest.length
      }
    }
    if (pendingBytes > 0) yield Buffer.concat(pending)
  } finally {
    reader.releaseLock()
  }
}
