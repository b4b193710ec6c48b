/** Serves the local blob store's signed URLs: `GET`/`HEAD /blobs/<key>?expires=…&sig=…` with range support. */
import { Elysia } from 'elysia'
import { passThrough } from '../http/pass-through.ts'
import { fileSource, serveRange } from '../http/range.ts'
import { BadRequestError, ForbiddenError, MethodNotAllowedError, NotFoundError } from '../platform/errors.ts'
import type { LocalBlobStore } from '../platform/storage/local-blob-store.ts'
import type { UrlSigner } from '../platform/storage/url-signer.ts'

const ROUTE_PREFIX = '/blobs/'

export function blobRoutes(store: LocalBlobStore, signer: UrlSigner) {
  // `all` rather than `get`: Elysia answers HEAD on a wildcard GET route by reading the whole body to count it
  // (and reports Content-Length: 0 for our empty HEAD body), even when a HEAD route exists.
  return new Elysia().all(
    '/blobs/*',
    async ({ request, set }) => {
      if (request.method !== 'GET' && request.method !== 'HEAD') {
        throw new MethodNotAllowedError('GET, HEAD')
      }
      const url = new URL(request.url)
      const key = decodeKey(url.pathname.slice(ROUTE_PREFIX.length))
      const check = signer.verify(key, url.searchParams)
      if (check.status !== 'ok') {
        throw check.status === 'expired'
          ? new ForbiddenError('This link has expired', 'SIGNED_URL_EXPIRED')
          : new ForbiddenError('Invalid link signature', 'SIGNED_URL_INVALID')
      }

      const opened = await store.open(key)
      if (!opened) throw new NotFoundError('Blob not found')
      const { file, info } = opened
      const { contentType, contentDisposition, cacheControl } = check.headers
      const secondsLeft = Math.max(0, Math.floor((check.expiresAt.getTime() - Date.now()) / 1000))
      const headers: Record<string, string> = {
        // Unsigned, the URL's own lifetime bounds caching; `private` keeps shared caches from outliving it.
        'Cache-Control': cacheControl ?? `private, max-age=${secondsLeft}`,
        // Stored content types come from uploads; never let a browser sniff one into something executable.
        'X-Content-Type-Options': 'nosniff',
      }
      if (contentDisposition !== undefined) headers['Content-Disposition'] = contentDisposition
      const source = fileSource(file, { ...info, contentType: contentType ?? info.contentType })
      // Kept as is by Elysia, so Bun sends the file slice with sendfile(2) instead of streaming it through JS.
      return passThrough(await serveRange(request, source, { headers }), set)
    },
    { detail: { hide: true } },
  )
}

/** The URL path carries the key percent-encoded per segment (see `encodeKey`). */
function decodeKey(encoded: string): string {
  try {
    return encoded.split('/').map(decodeURIComponent).join('/')
  } catch {
    throw new BadRequestError('Malformed blob path')
  }
}
