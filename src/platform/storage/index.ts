/** Picks the blob store for the deployment: S3 when a bucket is configured, else files under the data directory. */
import type { BlobStore } from './blob-store.ts'
import { LocalBlobStore } from './local-blob-store.ts'
import { S3BlobStore, type S3BlobStoreOptions } from './s3-blob-store.ts'
import type { UrlSigner } from './url-signer.ts'

export interface BlobStoreOptions {
  /** Where the local store keeps blobs, e.g. `DATA_DIR/blobs`. */
  rootDir: string
  /** The server's public origin; local signed URLs point at `${publicBaseUrl}/blobs/...`. */
  publicBaseUrl: string
  /** Signs local URLs; mount `blobRoutes` with the same signer. */
  signer: UrlSigner
  s3?: S3BlobStoreOptions
}

export function createBlobStore(options: BlobStoreOptions): BlobStore {
  if (options.s3?.bucket) return new S3BlobStore(options.s3)
  return new LocalBlobStore(options.rootDir, options.publicBaseUrl, options.signer)
}
