/**
 * The one background writer behind a write queue that must survive a database outage (the radio history, saved
 * playback sessions): one run at a time, a failed run retried after a backoff that doubles up to a limit, `drain`
 * to wait (bounded) for the queue to empty, `stop` at shutdown. The owner keeps its queue; the writer only decides
 * when `run` is called.
 */
import { IdleSignal } from './idle-signal.ts'

export interface RetryingWriterOptions {
  /** First retry delay after a failed run; doubles per failure up to `maxRetryMs`. */
  retryMs: number
  maxRetryMs: number
  /** Writes until the queue is empty; throws to be retried. Calls `progressed()` after each unit written. */
  run(): Promise<void>
  /** How many writes are waiting. */
  pending(): number
  /** A run failed; the next is in `retryInMs`. */
  onFailure(error: unknown, retryInMs: number): void
}

export class RetryingWriter {
  private running = false
  private failures = 0
  private retryTimer: ReturnType<typeof setTimeout> | undefined
  private readonly idle = new IdleSignal()

  constructor(private readonly options: RetryingWriterOptions) {}

  /** Starts a run, unless one is under way or a retry is waiting for its time. */
  kick(): void {
    if (this.running || this.retryTimer !== undefined) return
    void this.runOnce()
  }

  /**
   * For `run`, after each unit written: the backoff starts over. Returns whether writes had been failing (so the
   * owner can say they resumed).
   */
  progressed(): boolean {
    const wasFailing = this.failures > 0
    this.failures = 0
    return wasFailing
  }

  /** Resolves once the queue is empty (true), or after `timeoutMs` (false); a waiting retry runs at once. */
  async drain(timeoutMs: number): Promise<boolean> {
    if (this.options.pending() === 0 && !this.running) return true
    this.cancelRetry()
    this.kick()
    return this.idle.wait(timeoutMs)
  }

  /** Stops retrying (shutdown, after `drain`). */
  stop(): void {
    this.cancelRetry()
  }

  private cancelRetry(): void {
    clearTimeout(this.retryTimer)
    this.retryTimer = undefined
  }

  private async runOnce(): Promise<void> {
    this.running = true
    try {
      await this.options.run()
    } catch (error) {
      this.failures += 1
      const delay = Math.min(this.options.maxRetryMs, this.options.retryMs * 2 ** (this.failures - 1))
      this.options.onFailure(error, delay)
      this.retryTimer = setTimeout(() => {
        this.retryTimer = undefined
        this.kick()
      }, delay)
    } finally {
      this.running = false
    }
    if (this.options.pending() === 0) this.idle.notify()
  }
}
