/**
 * HMAC-SHA256 signed URLs for blobs served by this server (the local store's equivalent of S3 pre-signed URLs).
 * The signature covers the key, the expiry and every response header the URL makes the server send, so none of
 * them can be changed without invalidating it.
 */
import { createHmac, timingSafeEqual } from 'node:crypto'
import type { SignedUrlOptions } from './blob-store.ts'

/** Response headers carried by a signed URL. */
export interface SignedResponseHeaders {
  contentType?: string
  contentDisposition?: string
  cacheControl?: string
}

export type SignatureCheck =
  | { status: 'ok'; expiresAt: Date; headers: SignedResponseHeaders }
  | { status: 'expired' }
  | { status: 'tampered' }

/** Query parameter names, short because they end up in every URL. */
const PARAM = {
  expires: 'expires',
  contentType: 'ct',
  contentDisposition: 'cd',
  cacheControl: 'cc',
  signature: 'sig',
} as const

/** Domain separation: this MAC can never be replayed as one made for another purpose with the same key. */
const PURPOSE = 'airwave-blob-url-v1'

export class UrlSigner {
  constructor(
    /** The server derives it from JWT_SECRET (see app-services.ts). */
    private readonly secret: string | Uint8Array,
    /** Milliseconds since the epoch; injectable so tests can expire URLs. */
    private readonly now: () => number = Date.now,
  ) {
    if (secret.length < 16) throw new RangeError('URL signing secret must be at least 16 bytes')
  }

  /** The query parameters that make `key` readable until `options.expiresIn` seconds from now. */
  sign(key: string, options: SignedUrlOptions): { query: URLSearchParams; expiresAt: Date } {
    if (!Number.isInteger(options.expiresIn) || options.expiresIn <= 0) {
      throw new RangeError(`expiresIn must be a positive whole number of seconds, got ${options.expiresIn}`)
    }
    const expires = Math.floor(this.now() / 1000) + options.expiresIn
    const headers: SignedResponseHeaders = {
      contentType: options.contentType,
      contentDisposition: options.contentDisposition,
      cacheControl: options.cacheControl,
    }
    const query = new URLSearchParams({ [PARAM.expires]: String(expires) })
    if (headers.contentType !== undefined) query.set(PARAM.contentType, headers.contentType)
    if (headers.contentDisposition !== undefined)
      query.set(PARAM.contentDisposition, headers.contentDisposition)
    if (headers.cacheControl !== undefined) query.set(PARAM.cacheControl, headers.cacheControl)
    query.set(PARAM.signature, this.signature(key, expires, headers))
    return { query, expiresAt: new Date(expires * 1000) }
  }

  /** Checks the signature first, so an edited expiry reads as tampering rather than as expired. */
  verify(key: string, query: URLSearchParams): SignatureCheck {
    const expiresParam = query.get(PARAM.expires)
    const provided = query.get(PARAM.signature)
    if (expiresParam === null || provided === null || !/^\d{1,15}$/.test(expiresParam))
      return { status: 'tampered' }
    const expires = Number(expiresParam)
    const headers: SignedResponseHeaders = {
      contentType: query.get(PARAM.contentType) ?? undefined,
      contentDisposition: query.get(PARAM.contentDisposition) ?? undefined,
      cacheControl: query.get(PARAM.cacheControl) ?? undefined,
    }
    // Comparing the canonical base64url text (not decoded bytes) also rejects alternative encodings of the MAC.
    const expected = Buffer.from(this.signature(key, expires, headers))
    const actual = Buffer.from(provided)
    if (actual.length !== expected.length || !timingSafeEqual(actual, expected)) return { status: 'tampered' }
    if (this.now() >= expires * 1000) return { status: 'expired' }
    return { status: 'ok', expiresAt: new Date(expires * 1000), headers }
  }

  private signature(key: string, expires: number, headers: SignedResponseHeaders): string {
    // JSON keeps fields unambiguous (no delimiter injection) and tells an absent header (null) from an empty one.
    const payload = JSON.stringify([
      PURPOSE,
      key,
      expires,
      headers.contentType ?? null,
      headers.contentDisposition ?? null,
      headers.cacheControl ?? null,
    ])
    return createHmac('sha256', this.secret).update(payload).digest('base64url')
  }
}
