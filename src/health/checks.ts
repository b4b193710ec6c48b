/** One dependency's state in /health. */
export interface CheckResult {
  status: 'ok' | 'error'
  latencyMs: number
  /** What is in use (e.g. `PGlite at …`), or what failed. */
  detail?: string
}

export type HealthCheck = () => Promise<string | undefined>

const CHECK_TIMEOUT_MS = 2000

/** Runs `check` with a timeout, so a hung dependency makes /health say so instead of hanging. */
export async function runCheck(check: HealthCheck): Promise<CheckResult> {
  const started = performance.now()
  let timer: ReturnType<typeof setTimeout> | undefined
  try {
    const detail = await Promise.race([
      check(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`no answer within ${CHECK_TIMEOUT_MS} ms`)),
          CHECK_TIMEOUT_MS,
        )
      }),
    ])
    return { status: 'ok', latencyMs: Math.round(performance.now() - started), ...(detail ? { detail } : {}) }
  } catch (err) {
    return {
      status: 'error',
      latencyMs: Math.round(performance.now() - started),
      detail: (err as Error).message,
    }
  } finally {
    clearTimeout(timer)
  }
}
