/**
 * Lets a handler's own Response reach Bun untouched. Elysia re-wraps any returned Response whose context carries
 * headers set by hooks (request id, CORS) as `new Response(response.body, …)`, which turns a `Bun.file` body that
 * the kernel would send into a JavaScript stream. Building the Response with those headers already in it, and
 * leaving `set.headers` empty, keeps Elysia's fast path: it returns the Response as it is.
 */
type HookHeaders = Record<string, string | number | undefined> | Headers

/**
 * Calls `respond` with `headers` plus every header hooks have set so far, then empties `set.headers`. If `respond`
 * throws, `set.headers` is left as it was, so the error response still carries them (CORS, request id).
 */
export async function respondWithHookHeaders(
  set: { headers: HookHeaders },
  headers: Record<string, string>,
  respond: (headers: Record<string, string>) => Promise<Response>,
): Promise<Response> {
  const merged: Record<string, string> = { ...headers }
  const pending = set.headers
  if (pending instanceof Headers) {
    for (const [name, value] of pending) merged[name] ??= value
  } else {
    for (const name in pending) {
      const value = pending[name]
      if (value !== undefined) merged[name] ??= String(value)
    }
  }
  const response = await respond(merged)
  set.headers = {}
  return response
}
