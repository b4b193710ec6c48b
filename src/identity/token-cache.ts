/**
 * Recently verified tokens, so a client that sends the same JWT with every request (a player fetching ranges)
 * pays for its HMAC check once. An entry never outlives the token's own `exp`, nor `maxAgeMs`; failures are
 * never cached. Bounded: past `maxEntries` the oldest entry goes first.
 */
export class VerifiedTokenCache<T> {
  private readonly entries = new Map<string, { value: T; validUntil: number }>()

  constructor(
    readonly maxEntries: number,
    readonly maxAgeMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** The value cached for `token`, unless it is missing or its time is up. */
  get(token: string): T | undefined {
    const entry = this.entries.get(token)
    if (entry === undefined) return undefined
    if (this.now() < entry.validUntil) return entry.value
    this.entries.delete(token)
    return undefined
  }

  /** Keeps `value` for `token` until `expiresAtMs` (the token's `exp`) or `maxAgeMs` from now, whichever is first. */
  set(token: string, value: T, expiresAtMs: number): void {
    const validUntil = Math.min(expiresAtMs, this.now() + this.maxAgeMs)
    if (validUntil <= this.now()) return
    this.entries.delete(token)
    if (this.entries.size >= this.maxEntries) {
      const oldest = this.entries.keys().next()
      if (!oldest.done) this.entries.delete(oldest.value)
    }
    this.entries.set(token, { value, validUntil })
  }

  get size(): number {
    return this.entries.size
  }
}
