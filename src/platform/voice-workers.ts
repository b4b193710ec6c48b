/**
 * Scanner calls transcoded by the addon on threads of their own. The addon's transcode is synchronous and CPU-bound
 * (tens of ms per 10 s call, seconds for a long one); as N-API async work it would run on Bun's shared thread pool and
 * hold up every `node:fs` operation of the server meanwhile (measured: a `readFile` waited 1.6 s behind two 2-minute
 * calls). Each worker here runs one job at a time; jobs wait in arrival order for a free one.
 */
import { type VoiceTranscode, type VoiceTranscodeOptions, voicePackets } from './native.ts'

/** One job sent to a worker. */
export interface VoiceJob {
  id: number
  input: Uint8Array
  options: VoiceTranscodeOptions
}

/** A worker's answer: the addon's result, or an error its call threw (an argument the addon refused). */
export type VoiceJobResult = { id: number; voice: VoiceTranscode } | { id: number; error: string }

/** A transcode's outcome with its packets split out. */
export type VoiceResult =
  | (Extract<VoiceTranscode, { ok: true }> & { packets: Uint8Array[] })
  | Extract<VoiceTranscode, { ok: false }>

interface Pending {
  job: VoiceJob
  resolve: (result: VoiceResult) => void
  reject: (error: Error) => void
}

const WORKER_URL = new URL('./voice-worker.ts', import.meta.url)

/**
 * Bun's Worker has ref/unref (the DOM type does not say so). An idle worker is unref'd so it never keeps the process
 * alive; a busy one is ref'd, because while the main thread awaits an unref'd worker's answer Bun's event loop spins
 * (measured: 80 ms of main-thread CPU per 10 s call, more than the transcode itself, and 4× the wall time).
 */
type RefWorker = Worker & { ref(): void; unref(): void }

export class VoiceTranscoders {
  private readonly idle: Worker[] = []
  private readonly busy = new Map<Worker, Pending>()
  private readonly waiting: Pending[] = []
  private nextId = 1
  private closed = false

  /** At most `size` worker threads, started on first use. */
  constructor(readonly size: number) {
    if (!Number.isInteger(size) || size < 1) throw new RangeError('worker count must be a positive integer')
  }

  /** Transcodes `input` (the whole file; it is transferred to the worker, so the caller must not use it again). */
  transcode(input: Uint8Array, options: VoiceTranscodeOptions): Promise<VoiceResult> {
    if (this.closed) return Promise.reject(new Error('the call transcoders are closed'))
    return new Promise((resolve, reject) => {
      this.waiting.push({ job: { id: this.nextId++, input, options }, resolve, reject })
      this.dispatch()
    })
  }

  /** Ends every worker; jobs still waiting or running are rejected. */
  close(): void {
    this.closed = true
    const gone = new Error('the call transcoders were closed')
    for (const pending of this.waiting.splice(0)) pending.reject(gone)
    for (const [worker, pending] of this.busy) {
      pending.reject(gone)
      worker.terminate()
    }
    this.busy.clear()
    for (const worker of this.idle.splice(0)) worker.terminate()
  }

  private dispatch(): void {
    while (this.waiting.length > 0) {
      const worker = this.idle.pop() ?? (this.busy.size < this.size ? this.start() : undefined)
      if (!worker) return
      const pending = this.waiting.shift() as Pending
      this.busy.set(worker, pending)
      ;(worker as RefWorker).ref()
      const { input } = pending.job
      // Transfer the bytes when they own their whole buffer and it can be transferred; otherwise post a copy.
      const whole = input.byteOffset === 0 && input.byteLength === input.buffer.byteLength
      try {
        worker.postMessage(pending.job, whole ? [input.buffer as ArrayBuffer] : [])
      } catch {
        worker.postMessage(pending.job)
      }
    }
  }

  private start(): Worker {
    const worker = new Worker(WORKER_URL)
    worker.onmessage = (event: MessageEvent<VoiceJobResult>) => {
      ;(worker as RefWorker).unref()
      const pending = this.busy.get(worker)
      this.busy.delete(worker)
      if (!this.closed) this.idle.push(worker)
      if (pending) {
        const reply = event.data
        if ('error' in reply) pending.reject(new Error(reply.error))
        else if (reply.voice.ok) pending.resolve({ ...reply.voice, packets: voicePackets(reply.voice) })
        else pending.resolve(reply.voice)
      }
      this.dispatch()
    }
    worker.onerror = (event: ErrorEvent) => {
      // A worker that failed outside a job's own try (it could not load the addon) is replaced by a new one.
      const pending = this.busy.get(worker)
      this.busy.delete(worker)
      const at = this.idle.indexOf(worker)
      if (at >= 0) this.idle.splice(at, 1)
      worker.terminate()
      pending?.reject(new Error(`call transcode worker failed: ${event.message}`))
      this.dispatch()
    }
    return worker
  }
}
