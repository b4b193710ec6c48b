/** Lets callers wait, for at most a given time, until a background writer says its queue is empty. */
export class IdleSignal {
  private waiters: Array<() => void> = []

  /** Resolves true at the next `notify`, or false after `timeoutMs`. */
  async wait(timeoutMs: number): Promise<boolean> {
    let timer: ReturnType<typeof setTimeout> | undefined
    const idle = await Promise.race([
      new Promise<boolean>((resolve) => this.waiters.push(() => resolve(true))),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), timeoutMs)
      }),
    ])
    clearTimeout(timer)
    return idle
  }

  /** Wakes everyone waiting. */
  notify(): void {
    for (const wake of this.waiters.splice(0)) wake()
  }
}
