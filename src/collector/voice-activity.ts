/** Level of a frame in dBFS (0 = full scale; digital silence is -Infinity). */
export function frameLevelDb(frame: Int16Array): number {
  let sum = 0
  for (let i = 0; i < frame.length; i++) sum += (frame[i] as number) ** 2
  const rms = Math.sqrt(sum / Math.max(1, frame.length)) / 32768
  return 20 * Math.log10(rms)
}

/**
 * Splits the input into transmissions: a frame at or above `thresholdDb` opens (or keeps open) a transmission,
 * and `hangMs` of quieter frames closes it, so short pauses between words stay in one transmission.
 */
export class VoiceActivity {
  private active = false
  private quietMs = 0
  transmissions = 0

  constructor(
    private readonly thresholdDb: number,
    private readonly hangMs: number,
    private readonly frameMs: number,
  ) {}

  /** True when the frame belongs to a transmission (and should be sent). */
  update(levelDb: number): boolean {
    if (levelDb >= this.thresholdDb) {
      if (!this.active) this.transmissions++
      this.active = true
      this.quietMs = 0
      return true
    }
    if (!this.active) return false
    this.quietMs += this.frameMs
    if (this.quietMs > this.hangMs) {
      this.active = false
      return false
    }
    return true
  }

  get isActive(): boolean {
    return this.active
  }
}
