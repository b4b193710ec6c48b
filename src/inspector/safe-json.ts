/**
 * Turns anything an actor holds (context, events) into plain JSON that is safe to show an operator:
 * no circular references, no binary payloads, no secrets, bounded in depth and size.
 */

export interface SafeJsonLimits {
  maxDepth: number
  maxStringLength: number
  maxEntries: number
}

export const SUMMARY_LIMITS: SafeJsonLimits = { maxDepth: 3, maxStringLength: 120, maxEntries: 20 }
export const DETAIL_LIMITS: SafeJsonLimits = { maxDepth: 8, maxStringLength: 2000, maxEntries: 200 }

/** Keys whose values are never shown: credentials and audio payloads. */
const SECRET_KEY =
  /token|secret|password|passwd|authorization|cookie|api_?key|^key$|signature|^sig$|chunk_data|credential/i
/** Values that look like credentials wherever they appear: JWTs and Airwave ingest keys. */
const SECRET_VALUE = /eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*|awk_[A-Za-z0-9_-]{10,}/g

export const REDACTED = '[redacted]'

function isActorRef(value: object): value is { id: string; sessionId: string } {
  return 'sessionId' in value && 'send' in value && typeof (value as { send: unknown }).send === 'function'
}

export function toSafeJson(value: unknown, limits: SafeJsonLimits = DETAIL_LIMITS): unknown {
  const seen = new WeakSet<object>()
  const walk = (v: unknown, depth: number): unknown => {
    if (v === null || typeof v === 'boolean' || typeof v === 'number') return Number.isNaN(v) ? null : v
    if (typeof v === 'string') {
      const clean = v.replace(SECRET_VALUE, REDACTED)
      return clean.length > limits.maxStringLength
        ? `${clean.slice(0, limits.maxStringLength)}… (${clean.length} chars)`
        : clean
    }
    if (typeof v === 'bigint') return v.toString()
    if (v === undefined || typeof v === 'function' || typeof v === 'symbol') return undefined
    if (ArrayBuffer.isView(v) || v instanceof ArrayBuffer) return { $binary: v.byteLength }
    if (v instanceof Blob) return { $binary: v.size }
    if (v instanceof Date) return Number.isNaN(v.getTime()) ? null : v.toISOString()
    if (v instanceof Error) return { $error: v.name, message: walk(v.message, depth + 1) }
    if (typeof v !== 'object') return String(v)
    if (seen.has(v)) return '[circular]'
    if (isActorRef(v)) return { $actor: v.id }
    if (depth >= limits.maxDepth) return '[…]'
    seen.add(v)
    try {
      if (Array.isArray(v) || v instanceof Set) {
        const items = [...v]
        const out = items.slice(0, limits.maxEntries).map((item) => walk(item, depth + 1) ?? null)
        if (items.length > limits.maxEntries) out.push(`… ${items.length - limits.maxEntries} more`)
        return out
      }
      const entries =
        v instanceof Map ? [...v.entries()].map(([k, val]) => [String(k), val] as const) : Object.entries(v)
      const out: Record<string, unknown> = {}
      for (const [k, val] of entries.slice(0, limits.maxEntries)) {
        const safe = val === undefined ? undefined : SECRET_KEY.test(k) ? REDACTED : walk(val, depth + 1)
        if (safe !== undefined) out[k] = safe
      }
      if (entries.length > limits.maxEntries) out['…'] = `${entries.length - limits.maxEntries} more keys`
      return out
    } finally {
      seen.delete(v)
    }
  }
  return walk(value, 0)
}
