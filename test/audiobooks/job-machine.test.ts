import { describe, expect, test } from 'bun:test'
import { createActor, fromPromise, waitFor } from 'xstate'
import { type JobResult, jobMachine } from '../../actors/job.machine.ts'

const RESULT: JobResult = { duration: 12.5, fileSize: 1000, chapterCount: 2 }

/** A promise the test resolves or rejects by hand, to hold the machine in a state. */
function gate<T>() {
  let resolve!: (value: T) => void
  let reject!: (error: unknown) => void
  const promise = new Promise<T>((res, rej) => {
    resolve = res
    reject = rej
  })
  return { promise, resolve, reject }
}

function machineWith(steps: {
  acquireSlot?: () => Promise<void>
  processJob?: (signal: AbortSignal) => Promise<JobResult | null>
  recordFailure?: (reason: string) => Promise<void>
}) {
  return jobMachine.provide({
    actors: {
      acquireSlot: fromPromise(async () => steps.acquireSlot?.()),
      processJob: fromPromise(({ signal }) => steps.processJob?.(signal) ?? Promise.resolve(RESULT)),
      recordFailure: fromPromise(async ({ input }) => steps.recordFailure?.(input.reason)),
    },
  })
}

describe('job machine', () => {
  test('pending waits for a slot, then processing, then completed with the result', async () => {
    const slot = gate<void>()
    const work = gate<JobResult>()
    const actor = createActor(
      machineWith({ acquireSlot: () => slot.promise, processJob: () => work.promise }),
      {
        input: { jobId: 'j1' },
      },
    ).start()
    expect(actor.getSnapshot().value).toBe('pending')
    slot.resolve()
    await waitFor(actor, (s) => s.matches('processing'))
    work.resolve(RESULT)
    const done = await waitFor(actor, (s) => s.status === 'done')
    expect(done.value).toBe('completed')
    expect(done.context).toEqual({ jobId: 'j1', result: RESULT, error: null })
  })

  test('a job another instance holds is released: nothing recorded, no result', async () => {
    const recorded: string[] = []
    const actor = createActor(
      machineWith({
        processJob: async () => null,
        recordFailure: async (reason) => {
          recorded.push(reason)
        },
      }),
      { input: { jobId: 'j0' } },
    ).start()
    const done = await waitFor(actor, (s) => s.status === 'done')
    expect(done.value).toBe('released')
    expect(done.context).toEqual({ jobId: 'j0', result: null, error: null })
    expect(recorded).toEqual([])
  })

  test('a processing failure is recorded with its message, then the job is failed', async () => {
    const recorded: string[] = []
    const actor = createActor(
      machineWith({
        processJob: async () => {
          throw new Error('Chapter 2 ("notes.txt") is not a readable audio file: Invalid data')
        },
        recordFailure: async (reason) => {
          recorded.push(reason)
        },
      }),
      { input: { jobId: 'j2' } },
    ).start()
    const done = await waitFor(actor, (s) => s.status === 'done')
    expect(done.value).toBe('failed')
    expect(done.context.error).toBe('Chapter 2 ("notes.txt") is not a readable audio file: Invalid data')
    expect(recorded).toEqual([done.context.error as string])
  })

  test('the failing state is visible while the failure is being recorded', async () => {
    const recording = gate<void>()
    const actor = createActor(
      machineWith({
        processJob: async () => {
          throw new Error('bad')
        },
        recordFailure: () => recording.promise,
      }),
      { input: { jobId: 'j3' } },
    ).start()
    await waitFor(actor, (s) => s.matches('failing'))
    recording.resolve()
    expect((await waitFor(actor, (s) => s.status === 'done')).value).toBe('failed')
  })

  test('a failure while recording the failure still ends failed', async () => {
    const actor = createActor(
      machineWith({
        processJob: async () => {
          throw new Error('bad')
        },
        recordFailure: async () => {
          throw new Error('database down')
        },
      }),
      { input: { jobId: 'j4' } },
    ).start()
    const done = await waitFor(actor, (s) => s.status === 'done')
    expect(done.value).toBe('failed')
    expect(done.context.error).toBe('bad')
  })

  test('an error without a message gets a generic reason', async () => {
    const actor = createActor(
      machineWith({
        acquireSlot: async () => {
          throw new Error('')
        },
      }),
      { input: { jobId: 'j5' } },
    ).start()
    expect((await waitFor(actor, (s) => s.status === 'done')).context.error).toBe('Processing failed')
  })

  test('stopping the actor aborts the running step (which kills its FFmpeg)', async () => {
    let seen: AbortSignal | undefined
    const actor = createActor(
      machineWith({
        processJob: (signal) => {
          seen = signal
          return new Promise<JobResult>(() => {})
        },
      }),
      { input: { jobId: 'j6' } },
    ).start()
    await waitFor(actor, (s) => s.matches('processing'))
    expect(seen?.aborted).toBe(false)
    actor.stop()
    expect(seen?.aborted).toBe(true)
  })

  test('unprovided steps fail loudly rather than hang', async () => {
    const actor = createActor(jobMachine, { input: { jobId: 'j7' } }).start()
    const done = await waitFor(actor, (s) => s.status === 'done')
    expect(done.context.error).toContain('"acquireSlot" was not provided')
  })
})
