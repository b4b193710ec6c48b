export interface CollectorStatus {
  state: string
  transmissions: number
  sent: number
  queued: number
  dropped: number
  lastError: string | undefined
}

/**
 * The live status line: redrawn in place several times a second on a terminal, printed every few seconds
 * otherwise (logs, systemd).
 */
export class StatusLine {
  private timer: ReturnType<typeof setInterval> | undefined

  constructor(
    private readonly out: NodeJS.WriteStream,
    private readonly read: () => CollectorStatus,
  ) {}

  static format(s: CollectorStatus): string {
    return `[${s.state}] transmissions ${s.transmissions} | chunks sent ${s.sent} | queue ${s.queued} | dropped ${s.dropped} | last error: ${s.lastError ?? 'none'}`
  }

  start(): void {
    const tty = this.out.isTTY === true
    this.timer = setInterval(
      () =>
        this.out.write(
          tty ? `\r\x1b[2K${StatusLine.format(this.read())}` : `${StatusLine.format(this.read())}\n`,
        ),
      tty ? 250 : 5000,
    )
  }

  stop(): void {
    if (!this.timer) return
    clearInterval(this.timer)
    this.timer = undefined
    this.out.write(`${this.out.isTTY ? '\r\x1b[2K' : ''}${StatusLine.format(this.read())}\n`)
  }
}
