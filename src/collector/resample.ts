/**
 * Streaming resampler to the collector's 8 kHz: a windowed-sinc low-pass (so higher input rates do not alias)
 * followed by linear interpolation at the output rate. Plenty for narrowband voice.
 */
export class Resampler {
  private readonly step: number
  private readonly taps: Float32Array
  private history: Float32Array
  /** Position of the next output sample, in input samples from the start of `history`. */
  private position = 0

  constructor(
    readonly inputRate: number,
    readonly outputRate: number,
  ) {
    this.step = inputRate / outputRate
    const cutoff = Math.min(1, outputRate / inputRate) * 0.45
    const length = inputRate > outputRate ? 31 : 1
    this.taps = new Float32Array(length)
    const mid = (length - 1) / 2
    let sum = 0
    for (let i = 0; i < length; i++) {
      const x = i - mid
      const sinc = x === 0 ? 2 * cutoff : Math.sin(2 * Math.PI * cutoff * x) / (Math.PI * x)
      const window = length === 1 ? 1 : 0.54 - 0.46 * Math.cos((2 * Math.PI * i) / (length - 1))
      this.taps[i] = sinc * window
      sum += this.taps[i] as number
    }
    for (let i = 0; i < length; i++) this.taps[i] = (this.taps[i] as number) / sum
    this.history = new Float32Array(length - 1)
  }

  /** Resampled samples for `input`; state carries over between calls so blocks join without clicks. */
  push(input: Int16Array): Int16Array {
    if (this.inputRate === this.outputRate) return input
    const n = this.taps.length
    const buffer = new Float32Array(this.history.length + input.length)
    buffer.set(this.history)
    for (let i = 0; i < input.length; i++) buffer[this.history.length + i] = input[i] as number
    // Filtered signal: filtered[k] is centred on buffer[k + n - 1 - mid], delayed by a constant the ear ignores.
    const filteredLength = buffer.length - n + 1
    const filtered = new Float32Array(Math.max(0, filteredLength))
    for (let k = 0; k < filteredLength; k++) {
      let acc = 0
      for (let t = 0; t < n; t++) acc += (buffer[k + t] as number) * (this.taps[t] as number)
      filtered[k] = acc
    }
    const out: number[] = []
    while (this.position + 1 < filteredLength) {
      const i = Math.floor(this.position)
      const frac = this.position - i
      const value = (filtered[i] as number) * (1 - frac) + (filtered[i + 1] as number) * frac
      out.push(Math.max(-32768, Math.min(32767, Math.round(value))))
      this.position += this.step
    }
    // Keep what the next block's filter and interpolation still need.
    const consumed = Math.max(0, Math.min(Math.floor(this.position), filteredLength))
    this.history = buffer.slice(consumed)
    this.position -= consumed
    return Int16Array.from(out)
  }
}
