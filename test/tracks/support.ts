/** Helpers for the track tests: raw HTTP (paths a client library would normalise) and multipart/byteranges. */
import net from 'node:net'

/** A track's first fields, in the order track-streaming-service.md lists them (list and metadata alike). */
export const DOCUMENTED_TRACK_FIELDS = ['id', 'title', 'artist', 'duration', 'bitrate', 'format', 'size']

/**
 * Sends `GET <path>` exactly as written (no normalisation of `..` or percent-escapes) and returns the status
 * and body of the answer.
 */
export function rawGet(
  port: number,
  path: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1')
    const chunks: Buffer[] = []
    const lines = Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`)
    socket.on('connect', () =>
      socket.write(`GET ${path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n${lines.join('')}\r\n`),
    )
    socket.on('data', (chunk: Buffer) => chunks.push(chunk))
    socket.on('error', reject)
    socket.on('end', () => {
      const text = Buffer.concat(chunks).toString('latin1')
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1])
      resolve({ status, body: text.slice(text.indexOf('\r\n\r\n') + 4) })
    })
  })
}

export interface BytePart {
  contentType: string | undefined
  contentRange: string | undefined
  bytes: Buffer
}

/** Splits a multipart/byteranges body (RFC 9110 §14.6) into its parts; throws if the framing is wrong. */
export function parseByteranges(body: Uint8Array, contentType: string): BytePart[] {
  const boundary = /boundary=([^;]+)/.exec(contentType)?.[1]
  if (!boundary) throw new Error(`no boundary in ${contentType}`)
  // latin1 maps every byte to one character and back, so binary parts survive the split.
  const text = Buffer.from(body).toString('latin1')
  const pieces = text.split(`--${boundary}`)
  if (pieces[0] !== '' || pieces.at(-1) !== '--\r\n') throw new Error('bad multipart framing')
  return pieces.slice(1, -1).map((piece) => {
    if (!piece.startsWith('\r\n') || !piece.endsWith('\r\n')) throw new Error('bad part framing')
    const inner = piece.slice(2, -2)
    const split = inner.indexOf('\r\n\r\n')
    const headers = Object.fromEntries(
      inner
        .slice(0, split)
        .split('\r\n')
        .map((line) => {
          const colon = line.indexOf(':')
          return [line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim()]
        }),
    )
    return {
      contentType: headers['content-type'],
      contentRange: headers['content-range'],
      bytes: Buffer.from(inner.slice(split + 4), 'latin1'),
    }
  })
}
