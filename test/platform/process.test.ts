import { describe, expect, test } from 'bun:test'
import { ProcessError, runProcess } from '../../src/platform/process.ts'

const isAlive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

describe('runProcess', () => {
  test('returns stdout and the stderr tail of a successful child', async () => {
    const result = await runProcess(['sh', '-c', 'echo out; echo err >&2'], { timeoutMs: 5000 })
    expect(result).toEqual({ stdout: 'out\n', stderrTail: 'err' })
  })

  test('a non-zero exit is a ProcessError with the code and the last of stderr', async () => {
    const error = await runProcess(['sh', '-c', 'echo first >&2; echo last words >&2; exit 3'], {
      timeoutMs: 5000,
    }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(ProcessError)
    expect(error).toMatchObject({ kind: 'exit', exitCode: 3, stderrTail: 'first\nlast words' })
  })

  test('keeps only stderrTailBytes of stderr, and a child writing megabytes to stderr never blocks', async () => {
    const result = await runProcess(['sh', '-c', 'head -c 3000000 /dev/zero | tr "\\0" x >&2; echo done'], {
      timeoutMs: 10_000,
      stderrTailBytes: 10,
    })
    expect(result.stdout).toBe('done\n')
    expect(result.stderrTail).toBe('x'.repeat(10))
  })

  test('a child running past the timeout is killed', async () => {
    const started = performance.now()
    const error = await runProcess(['sleep', '30'], { timeoutMs: 200 }).catch((e: unknown) => e)
    expect(error).toMatchObject({ kind: 'timeout' })
    expect(performance.now() - started).toBeLessThan(5000)
  })

  test('aborting kills the child at once', async () => {
    const controller = new AbortController()
    const pidFile = `/tmp/airwave-process-test-${crypto.randomUUID()}`
    const running = runProcess(['sh', '-c', `echo $$ > ${pidFile}; exec sleep 30`], {
      timeoutMs: 60_000,
      signal: controller.signal,
    }).catch((e: unknown) => e)
    while (!(await Bun.file(pidFile).exists()) || (await Bun.file(pidFile).text()) === '') await Bun.sleep(10)
    const pid = Number((await Bun.file(pidFile).text()).trim())
    expect(isAlive(pid)).toBe(true)
    controller.abort()
    expect(await running).toMatchObject({ kind: 'aborted' })
    expect(isAlive(pid)).toBe(false)
    await Bun.file(pidFile).delete()
  })

  test('an already aborted signal never starts the child', async () => {
    const controller = new AbortController()
    controller.abort()
    await expect(runProcess(['true'], { timeoutMs: 1000, signal: controller.signal })).rejects.toThrow()
  })

  test('stdout past maxStdoutBytes kills the child', async () => {
    const error = await runProcess(['sh', '-c', 'head -c 5000000 /dev/zero'], {
      timeoutMs: 10_000,
      maxStdoutBytes: 1000,
    }).catch((e: unknown) => e)
    expect(error).toMatchObject({ kind: 'output-limit' })
  })

  test('a missing binary is a spawn failure', async () => {
    const error = await runProcess(['/nonexistent/ffmpeg'], { timeoutMs: 1000 }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(ProcessError)
    expect((error as ProcessError).kind).toBe('spawn')
  })
})
