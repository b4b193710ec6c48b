import { BadRequestError, PayloadTooLargeError } from '../platform/errors.ts'

/**
 * Reads a JSON body of at most `maxBytes`. A declared Content-Length over the limit is refused before anything is
 * read; a chunked body is counted as it arrives and refused as soon as it passes the limit (413 either way).
 */
export async function readJsonBody(request: Request, maxBytes: number): Promise<unknown> {
  const tooLarge = () => new PayloadTooLargeError(`Request body is larger than ${maxBytes} bytes`)
  const declared = request.headers.get('content-length')
  let text: string
  if (declared !== null) {
    if (Number(declared) > maxBytes) throw tooLarge()
    // Bun never reads past the declared length.
    text = await request.text()
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
    text = Buffer.concat(parts).toString('utf8')
  }
  try {
    return JSON.parse(text)
  } catch {
    throw new BadRequestError('Malformed JSON body', 'PARSE')
  }
}
