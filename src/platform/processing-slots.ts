/**
 * A bounded number of jobs processing at once (audiobook transcodes: AUDIOBOOK_CONCURRENCY; scanner call transcodes:
 * CALL_TRANSCODE_CONCURRENCY): FFmpeg is CPU-bound, so more at once only slows every job down. Waiting jobs queue in
 * arrival order.
 */
export class ProcessingSlots {
  private readonly holders = new Set<string>()
  private readonly waiting: Array<{ jobId: string; grant: () => void }> = []

  constructor(readonly size: number) {
    if (!Number.isInteger(size) || size < 1) throw new RangeError('slot count must be a positive integer')
  }

  /** Resolves once `jobId` holds a slot. Aborting `signal` leaves the queue and rejects. */
  acquire(jobId: string, signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted()
    if (this.holders.has(jobId)) return Promise.resolve()
    if (this.holders.size < this.size) {
      this.holders.add(jobId)
      return Promise.resolve()
    }
    return new Promise<void>((resolve, reject) => {
      const entry = {
        jobId,
        grant: () => {
          signal?.removeEventListener('abort', onAbort)
          this.holders.add(jobId)
          resolve()
        },
      }
      const onAbort = () => {
        const at = this.waiting.indexOf(entry)
        if (at >= 0) this.waiting.splice(at, 1)
        reject(signal?.reason)
      }
      signal?.addEventListener('abort', onAbort, { once: true })
      this.waiting.push(entry)
    })
  }

  /** Frees `jobId`'s slot, if it holds one, for the next waiting job. Safe to call more than once. */
  release(jobId: string): void {
    if (!this.holders.delete(jobId)) return
    this.waiting.shift()?.grant()
  }

  get inUse(): number {
    return this.holders.size
  }

  get queued(): number {
    return this.waiting.length
  }
}
