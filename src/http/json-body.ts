import { BadRequestError, PayloadTooLargeError } from '../platform/errors.ts'
import { decodeUtf8, guardBody } from './input-guard.ts'

/**
 * Reads a JSON body of at most `maxBytes`, for routes that read their own body (`parse: 'none'`). A declared
 * Content-Length over the limit is refused before anything is read; a chunked body is counted as it arrives and
 * refused as soon as it passes the limit (413 either way). Bytes that are not UTF-8 and strings the input guard
 * refuses are a 400, as on every other route.
 */
export async function readJsonBody(request: Request, maxBytes: number): Promise<unknown> {
  const tooLarge = () => new PayloadTooLargeError(`Request body is larger than ${maxBytes} bytes`)
  const declared = request.headers.get('content-length')
  let bytes: Uint8Array
  if (declared !== null) {
    if (Number(declared) > maxBytes) throw tooLarge()
    // Bun never reads past the declared length.
    bytes = await request.bytes()
  } else {
    if (!request.body) throw new BadRequestError('Request body must be a JSON object', 'INVALID_BODY')
    const reader = request.body.getReader()
    const parts: Uint8Array[] = []
    let total = 0
    for (let r = await reader.read(); !r.done; r = await reader.read()) {
      total += r.value.byteLength
      if (total > maxBytes) {
        await reader.cancel()
        throw tooLarge()
      }
      parts.push(r.value)
    }
    bytes = Buffer.concat(parts)
  }
  const text = decodeUtf8(bytes)
  let body: unknown
  try {
    body = JSON.parse(text)
  } catch {
    throw new BadRequestError('Malformed JSON body', 'PARSE')
  }
  guardBody(body)
  return body
}
