/**
 * One audiobook job's processing lifecycle: PENDING → PROCESSING → COMPLETED | FAILED.
 *
 * The machine only declares the steps; the audiobooks feature provides them with `.provide()`:
 * - `acquireSlot` resolves when the job may start (processing runs a bounded number of jobs at once);
 *   the slot it takes is held until `processJob` settles.
 * - `processJob` probes, transcodes and stores every chapter and records the job as COMPLETED; it resolves with
 *   null instead when the job turns out to be another instance's (claimed there, see src/audiobooks/claims.ts) or
 *   gone, and the actor ends `released` without touching it.
 * - `recordFailure` records the job as FAILED with a reason fit to show its owner, and cleans up.
 * Stopping the actor (DELETE, shutdown) aborts the running step's `signal`, which kills its FFmpeg.
 */
import { assign, fromPromise, setup } from 'xstate'

export interface JobInput {
  jobId: string
}

export interface JobResult {
  duration: number
  fileSize: number
  chapterCount: number
}

export interface JobContext {
  jobId: string
  result: JobResult | null
  /** Why the job failed, as shown to its owner. */
  error: string | null
}

const notProvided = (name: string) => new Error(`job machine: "${name}" was not provided`)

/** Errors from the provided steps carry owner-facing messages; anything else becomes a generic reason. */
function reasonOf(error: unknown): string {
  return error instanceof Error && error.message !== '' ? error.message : 'Processing failed'
}

export const jobMachine = setup({
  types: {
    context: {} as JobContext,
    input: {} as JobInput,
  },
  actors: {
    acquireSlot: fromPromise<void, JobInput>(async () => {
      throw notProvided('acquireSlot')
    }),
    processJob: fromPromise<JobResult | null, JobInput>(async () => {
      throw notProvided('processJob')
    }),
    recordFailure: fromPromise<void, JobInput & { reason: string }>(async () => {
      throw notProvided('recordFailure')
    }),
  },
}).createMachine({
  id: 'job',
  context: ({ input }) => ({ jobId: input.jobId, result: null, error: null }),
  initial: 'pending',
  states: {
    pending: {
      invoke: {
        src: 'acquireSlot',
        input: ({ context }) => ({ jobId: context.jobId }),
        onDone: 'processing',
        onError: { target: 'failing', actions: assign({ error: ({ event }) => reasonOf(event.error) }) },
      },
    },
    processing: {
      invoke: {
        src: 'processJob',
        input: ({ context }) => ({ jobId: context.jobId }),
        onDone: [
          { guard: ({ event }) => event.output === null, target: 'released' },
          { target: 'completed', actions: assign({ result: ({ event }) => event.output }) },
        ],
        onError: { target: 'failing', actions: assign({ error: ({ event }) => reasonOf(event.error) }) },
      },
    },
    failing: {
      invoke: {
        src: 'recordFailure',
        input: ({ context }) => ({ jobId: context.jobId, reason: context.error ?? 'Processing failed' }),
        onDone: 'failed',
        // Nothing more can be done here; the feature logs it and startup recovery settles the row.
        onError: 'failed',
      },
    },
    completed: { type: 'final' },
    failed: { type: 'final' },
    /** Another instance processes the job (or it was deleted): nothing was recorded here. */
    released: { type: 'final' },
  },
})

export type JobMachine = typeof jobMachine
