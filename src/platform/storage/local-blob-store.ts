/**
 * Blobs as files under one directory, for single-node deployments. Keys map to paths one-to-one; each blob's
 * content type lives in a hidden sidecar next to it (`dir/.name.meta.json`). Keys cannot start a segment with a
 * dot, so sidecars and the temp directory can never collide with, or be addressed as, a blob.
 */
import { mkdir, readdir, readFile, rename, rm, rmdir, stat as statPath, unlink } from 'node:fs/promises'
import { dirname, join, resolve, sep } from 'node:path'
import type { BunFile } from 'bun'
import { ConflictError, NotFoundError, RangeNotSatisfiableError } from '../errors.ts'
import type { BlobInfo, BlobStore, ByteRange, SignedUrl, SignedUrlOptions } from './blob-store.ts'
import { assertValidKey, assertValidPrefix, encodeKey } from './keys.ts'
import type { UrlSigner } from './url-signer.ts'

const TEMP_DIR = '.tmp'
const FALLBACK_CONTENT_TYPE = 'application/octet-stream'

interface Sidecar {
  contentType: string
}

export class LocalBlobStore implements BlobStore {
  readonly kind = 'local'
  private readonly rootDir: string
  private readonly publicBaseUrl: string

  constructor(
    rootDir: string,
    publicBaseUrl: string,
    readonly signer: UrlSigner,
  ) {
    this.rootDir = resolve(rootDir)
    this.publicBaseUrl = publicBaseUrl.replace(/\/+$/, '')
  }

  async put(
    key: string,
    body: Uint8Array | Blob | ReadableStream<Uint8Array>,
    contentType: string,
  ): Promise<BlobInfo> {
    assertValidKey(key)
    const path = this.pathOf(key)
    const tempDir = join(this.rootDir, TEMP_DIR)
    await mkdir(tempDir, { recursive: true })
    const tempData = join(tempDir, crypto.randomUUID())
    const tempMeta = `${tempData}.meta.json`
    try {
      await writeBody(tempData, body)
      await Bun.write(tempMeta, JSON.stringify({ contentType } satisfies Sidecar))
      // Renames within one filesystem are atomic: readers see the old blob or the new one, never a partial file.
      await renameIntoDir(tempMeta, this.sidecarOf(key))
      await renameIntoDir(tempData, path)
    } catch (error) {
      await Promise.all([rm(tempData, { force: true }), rm(tempMeta, { force: true })])
      throw conflictOnPathClash(error, key)
    }
    const info = await this.stat(key)
    if (!info) throw new NotFoundError(`Blob ${key} vanished right after being written`)
    return info
  }

  async stat(key: string): Promise<BlobInfo | null> {
    return (await this.open(key))?.info ?? null
  }

  /** The blob as a `BunFile` (for zero-copy serving) with its info, or null when missing. */
  async open(key: string): Promise<{ file: BunFile; info: BlobInfo } | null> {
    assertValidKey(key)
    const path = this.pathOf(key)
    const stats = await statPath(path).catch(nullWhenMissing)
    if (!stats?.isFile()) return null
    const file = Bun.file(path)
    const info = {
      key,
      size: stats.size,
      contentType: await this.contentTypeOf(key, file),
      lastModified: stats.mtime,
    }
    return { file, info }
  }

  async read(key: string, range?: ByteRange): Promise<ReadableStream<Uint8Array>> {
    const opened = await this.open(key)
    if (!opened) throw new NotFoundError(`Blob ${key} not found`)
    const { file, info } = opened
    if (!range) return file.slice(0, info.size).stream()
    if (range.start < 0 || range.end < range.start || range.start >= info.size) {
      throw new RangeNotSatisfiableError(info.size)
    }
    return file.slice(range.start, Math.min(range.end, info.size - 1) + 1).stream()
  }

  async delete(key: string): Promise<void> {
    assertValidKey(key)
    await Promise.all([
      unlink(this.pathOf(key)).catch(nullWhenMissing),
      rm(this.sidecarOf(key), { force: true }),
    ])
    await this.pruneEmptyParents(dirname(this.pathOf(key)))
  }

  async deletePrefix(prefix: string): Promise<void> {
    assertValidPrefix(prefix)
    const slash = prefix.lastIndexOf('/')
    const dirKey = prefix.slice(0, slash + 1)
    const namePrefix = prefix.slice(slash + 1)
    const dir = join(this.rootDir, dirKey)
    if (namePrefix === '') {
      await rm(dir, { recursive: true, force: true })
      return this.pruneEmptyParents(dirname(dir))
    }
    const entries = await readdir(dir, { withFileTypes: true }).catch(nullWhenMissing)
    for (const entry of entries ?? []) {
      if (entry.name.startsWith('.') || !entry.name.startsWith(namePrefix)) continue
      // Every key below a matching directory starts with the prefix, so the whole directory goes.
      if (entry.isDirectory()) await rm(join(dir, entry.name), { recursive: true, force: true })
      else await this.delete(dirKey + entry.name)
    }
    await this.pruneEmptyParents(dir)
  }

  async signedUrl(key: string, options: SignedUrlOptions): Promise<SignedUrl> {
    assertValidKey(key)
    const { query, expiresAt } = this.signer.sign(key, options)
    return { url: `${this.publicBaseUrl}/blobs/${encodeKey(key)}?${query}`, expiresAt }
  }

  /** Writes and removes a probe file: proves the directory exists and accepts writes, even for root. */
  async check(): Promise<void> {
    const tempDir = join(this.rootDir, TEMP_DIR)
    await mkdir(tempDir, { recursive: true })
    const probe = join(tempDir, `check-${crypto.randomUUID()}`)
    await Bun.write(probe, '')
    await unlink(probe)
  }

  private pathOf(key: string): string {
    return join(this.rootDir, key)
  }

  private sidecarOf(key: string): string {
    const slash = key.lastIndexOf('/')
    return join(this.rootDir, key.slice(0, slash + 1), `.${key.slice(slash + 1)}.meta.json`)
  }

  private async contentTypeOf(key: string, file: BunFile): Promise<string> {
    const sidecar = await readFile(this.sidecarOf(key), 'utf8').catch(nullWhenMissing)
    const parsed = sidecar === null ? null : (parseJson(sidecar) as Partial<Sidecar> | null)
    if (typeof parsed?.contentType === 'string') return parsed.contentType
    // Files placed without put() (or with a damaged sidecar) fall back to their extension.
    return file.type || FALLBACK_CONTENT_TYPE
  }

  /** Removes directories left empty by deletes, so a later key such as `jobs` is not blocked by an empty `jobs/`. */
  private async pruneEmptyParents(dir: string): Promise<void> {
    for (let current = dir; current.startsWith(this.rootDir + sep); current = dirname(current)) {
      const removed = await rmdir(current).then(
        () => true,
        () => false,
      )
      if (!removed) return
    }
  }
}

/** One call per type because Bun.write's overloads do not accept the union. */
async function writeBody(path: string, body: Uint8Array | Blob | ReadableStream<Uint8Array>): Promise<void> {
  if (body instanceof ReadableStream) await Bun.write(path, new Response(body))
  else if (body instanceof Blob) await Bun.write(path, body)
  else await Bun.write(path, body)
}

/** Moves a file into place, creating its directory; retried because a concurrent delete may prune that directory. */
async function renameIntoDir(from: string, to: string): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    await mkdir(dirname(to), { recursive: true })
    try {
      return await rename(from, to)
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT' || attempt === 3) throw error
    }
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    return null
  }
}

function nullWhenMissing(error: unknown): null {
  const code = (error as NodeJS.ErrnoException).code
  if (code === 'ENOENT' || code === 'ENOTDIR') return null
  throw error
}

/** A key that needs a directory where a blob file is (or the reverse) cannot exist on a filesystem. */
function conflictOnPathClash(error: unknown, key: string): unknown {
  const code = (error as NodeJS.ErrnoException).code
  if (code === 'EEXIST' || code === 'ENOTDIR' || code === 'EISDIR') {
    return new ConflictError(`Blob key ${key} clashes with an existing key's path`, 'BLOB_KEY_CLASH')
  }
  return error
}
