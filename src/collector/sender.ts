/**
 * Posts chunks to `POST /api/v1/stream-audio` in order, one at a time. Failures are retried with exponential
 * backoff (429 honours Retry-After); while the server is unreachable chunks wait in a bounded offline queue and
 * the oldest are dropped (and counted) when it is full. A chunk the server refuses as bad (4xx) is dropped.
 */

export interface Chunk {
  slot: number
  radio_id: number
  talkgroup_id: number
  chunk_data: string
  sequence: number
  timestamp: string
  save_recording: boolean
}

export interface SenderOptions {
  /** Server root URL, e.g. http://host:3000 */
  url: string
  key: string
  /** Chunks kept while the server cannot be reached (600 = one minute of audio). */
  maxQueue: number
  minBackoffMs: number
  maxBackoffMs: number
  /** Per-request timeout. */
  timeoutMs: number
}

export interface SenderStats {
  sent: number
  queued: number
  dropped: number
  rejected: number
  lastError: string | undefined
}

export class ChunkSender {
  private readonly queue: Chunk[] = []
  private sending = false
  private backoffMs: number
  readonly stats: SenderStats = { sent: 0, queued: 0, dropped: 0, rejected: 0, lastError: undefined }

  constructor(private readonly options: SenderOptions) {
    this.backoffMs = options.minBackoffMs
  }

  enqueue(chunk: Chunk): void {
    this.queue.push(chunk)
    if (this.queue.length > this.options.maxQueue) {
      this.queue.shift()
      this.stats.dropped++
    }
    this.stats.queued = this.queue.length
    if (!this.sending) void this.run()
  }

  /** Resolves when the queue is empty or `timeoutMs` passed; true when everything was sent. */
  async drain(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs
    while (this.queue.length > 0 || this.sending) {
      if (Date.now() > deadline) return false
      await Bun.sleep(20)
    }
    return true
  }

  private async run(): Promise<void> {
    this.sending = true
    try {
      for (let chunk = this.queue[0]; chunk; chunk = this.queue[0]) {
        const outcome = await this.post(chunk)
        if (outcome.kind === 'retry') {
          await this.sleep(outcome.afterMs ?? this.backoffMs)
          this.backoffMs = Math.min(this.options.maxBackoffMs, this.backoffMs * 2)
          continue
        }
        this.backoffMs = this.options.minBackoffMs
        if (this.queue[0] === chunk) this.queue.shift()
        this.stats.queued = this.queue.length
        if (outcome.kind === 'sent') this.stats.sent++
        else this.stats.rejected++
      }
    } finally {
      this.sending = false
    }
  }

  private async post(
    chunk: Chunk,
  ): Promise<{ kind: 'sent' | 'rejected' } | { kind: 'retry'; afterMs?: number }> {
    try {
      const res = await fetch(`${this.options.url}/api/v1/stream-audio`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${this.options.key}` },
        body: JSON.stringify(chunk),
        signal: AbortSignal.timeout(this.options.timeoutMs),
      })
      const text = await res.text()
      if (res.ok) {
        this.stats.lastError = undefined
        return { kind: 'sent' }
      }
      this.stats.lastError = `HTTP ${res.status}: ${errorText(text)}`
      if (res.status === 429)
        return { kind: 'retry', afterMs: Number(res.headers.get('retry-after') ?? 1) * 1000 }
      if (res.status >= 500) return { kind: 'retry' }
      // 401 may be fixed on the server (a key added) while we keep trying; other 4xx refuse this chunk for good.
      if (res.status === 401) return { kind: 'retry' }
      return { kind: 'rejected' }
    } catch (err) {
      this.stats.lastError = (err as Error).message
      return { kind: 'retry' }
    }
  }

  private sleep(ms: number): Promise<void> {
    return Bun.sleep(ms)
  }
}

function errorText(body: string): string {
  try {
    const parsed = JSON.parse(body) as { error?: unknown }
    return typeof parsed.error === 'string' ? parsed.error : body.slice(0, 200)
  } catch {
    return body.slice(0, 200)
  }
}
