/**
 * Lets a handler's own Response reach Bun untouched. Elysia re-wraps any returned Response whose context carries
 * headers set by hooks (request id, CORS) as `new Response(response.body, …)`, which turns a `Bun.file` body that
 * the kernel would send into a JavaScript stream. Moving those headers onto the Response first, and leaving
 * `set.headers` empty, keeps Elysia's fast path: it returns the Response as it is.
 */
export function passThrough(
  response: Response,
  set: { headers: Record<string, string | number | undefined> | Headers },
): Response {
  const pending = set.headers
  if (pending instanceof Headers) {
    for (const [name, value] of pending) if (!response.headers.has(name)) response.headers.set(name, value)
  } else {
    for (const name in pending) {
      const value = pending[name]
      if (value !== undefined && !response.headers.has(name)) response.headers.set(name, String(value))
    }
  }
  set.headers = {}
  return response
}
