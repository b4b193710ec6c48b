/**
 * Small byte ranges of local files, read through a bounded cache of open read-only descriptors.
 *
 * Why: for a slice under about 1 MiB, `Bun.file(path).slice()` as a response body does not use sendfile(2); Bun
 * opens the file, fstats it, preads the bytes into a buffer, sends them and hands the close to a worker thread, on
 * every request. Reading the same bytes with one pread from a descriptor kept open copies exactly as much and
 * halves the server's CPU per 64 KiB range (measured in test/bench/range.bench.ts). Larger ranges and whole files
 * stay `Bun.file` slices, which Bun sends with sendfile(2).
 *
 * The bytes are read into one buffer kept for every read, not a new one each time: `new Response(bytes)` copies a
 * typed array body when it is constructed (the Fetch standard's "extract a body" takes a copy of a BufferSource),
 * so nothing holds on to the buffer once the Response exists. A fresh 64 KiB allocation per range, each touching
 * cold memory, cost more than a quarter of the server's CPU per range (85.7 against 60.8 µs in range.bench.ts,
 * README "Benchmarks").
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs'

/** Largest range read into memory; larger ones are left to sendfile(2). Below Bun's own pread threshold. */
export const MAX_BUFFERED_RANGE_BYTES = 512 * 1024
/** Most descriptors kept open; the least recently used is closed first. */
const DEFAULT_MAX_OPEN_FILES = 64

/** Which file a path named when it was stat'ed: a replaced file (same path, new inode) gets a new descriptor. */
export interface FileIdentity {
  dev: number
  ino: number
}

export class OpenFiles {
  private readonly open = new Map<string, FileIdentity & { fd: number }>()
  /** The one buffer every read fills (see `read`); allocated on the first read. */
  private scratch: Buffer<ArrayBuffer> | undefined

  constructor(readonly maxOpen = DEFAULT_MAX_OPEN_FILES) {}

  /**
   * `length` (at most MAX_BUFFERED_RANGE_BYTES) bytes of the file at `path` from `position`, or undefined when the
   * file holds fewer (it shrank since `identity` was taken) or `path` now names another file than `identity` (it
   * was replaced since). `identity` comes from a stat of `path` (made for this request, or kept since by
   * src/tracks/stream-files.ts).
   *
   * The bytes are lent, not given: a view of the buffer the next read overwrites. Copy them, or hand them to
   * `new Response`, before anything else can read (synchronously, with no `await` in between).
   */
  read(
    path: string,
    identity: FileIdentity,
    position: number,
    length: number,
  ): Uint8Array<ArrayBuffer> | undefined {
    if (length > MAX_BUFFERED_RANGE_BYTES)
      throw new RangeError(`read of ${length} bytes past the buffered limit`)
    const fd = this.descriptor(path, identity)
    if (fd === undefined) return undefined
    // Every byte lent is overwritten by the read below, so the buffer need not be zeroed.
    this.scratch ??= Buffer.allocUnsafeSlow(MAX_BUFFERED_RANGE_BYTES)
    const bytes = this.scratch.subarray(0, length)
    let filled = 0
    while (filled < length) {
      const read = readSync(fd, bytes, filled, length - filled, position + filled)
      if (read === 0) return undefined
      filled += read
    }
    return bytes
  }

  get size(): number {
    return this.open.size
  }

  closeAll(): void {
    for (const { fd } of this.open.values()) closeSync(fd)
    this.open.clear()
  }

  private descriptor(path: string, identity: FileIdentity): number | undefined {
    const cached = this.open.get(path)
    if (cached && cached.dev === identity.dev && cached.ino === identity.ino) {
      // Most recently used last, so eviction takes the first entry.
      this.open.delete(path)
      this.open.set(path, cached)
      return cached.fd
    }
    if (cached) {
      closeSync(cached.fd)
      this.open.delete(path)
    }
    if (this.open.size >= this.maxOpen) {
      const [oldestPath, oldest] = this.open.entries().next().value as [string, { fd: number }]
      closeSync(oldest.fd)
      this.open.delete(oldestPath)
    }
    const fd = openSync(path, 'r')
    const opened = fstatSync(fd)
    if (opened.dev !== identity.dev || opened.ino !== identity.ino) {
      // Replaced after the stat `identity` came from: these are not the bytes its size and validators describe.
      closeSync(fd)
      return undefined
    }
    this.open.set(path, { fd, dev: identity.dev, ino: identity.ino })
    return fd
  }
}
