/** Helpers for tests that run a real S3-protocol server (s3rver) and check SigV4 pre-signed URLs. */
import nodeCrypto, { createHash, createHmac } from 'node:crypto'

/**
 * s3rver encrypts ListObjectsV2 continuation tokens with the cipher name `des`, an OpenSSL alias that Bun's
 * BoringSSL does not know: any listing longer than one page fails with "Unknown cipher" (HTTP 500).
 * `des-cbc` is the same cipher under its full name, so alias it for the duration of these tests.
 */
export function aliasDesCipherForS3rver(): () => void {
  const { createCipheriv, createDecipheriv } = nodeCrypto
  const alias = (algorithm: string) => (algorithm === 'des' ? 'des-cbc' : algorithm)
  nodeCrypto.createCipheriv = ((algorithm: string, ...rest: [never, never]) =>
    createCipheriv(alias(algorithm), ...rest)) as typeof createCipheriv
  nodeCrypto.createDecipheriv = ((algorithm: string, ...rest: [never, never]) =>
    createDecipheriv(alias(algorithm), ...rest)) as typeof createDecipheriv
  return () => {
    nodeCrypto.createCipheriv = createCipheriv
    nodeCrypto.createDecipheriv = createDecipheriv
  }
}

/** RFC 3986 unreserved characters stay; everything else is %XX, as SigV4 requires. */
function uriEncode(value: string): string {
  return encodeURIComponent(value).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  )
}

const hmac = (key: string | Buffer, data: string) => createHmac('sha256', key).update(data).digest()

/**
 * The AWS Signature Version 4 query-string signature of a pre-signed GET URL, computed from the spec
 * (https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-query-string-auth.html).
 */
export function sigV4QuerySignature(url: URL, secretAccessKey: string): string {
  const query = url.searchParams
  const amzDate = query.get('X-Amz-Date') as string
  const [, date, region, service] = (query.get('X-Amz-Credential') as string).split('/')
  const canonicalQuery = [...query.entries()]
    .filter(([name]) => name !== 'X-Amz-Signature')
    .map(([name, value]) => [uriEncode(name), uriEncode(value)])
    .sort(([a = '', av = ''], [b = '', bv = '']) => (a < b ? -1 : a > b ? 1 : av < bv ? -1 : av > bv ? 1 : 0))
    .map(([name, value]) => `${name}=${value}`)
    .join('&')
  // S3 signs the path exactly as sent, each segment URI-encoded once.
  const canonicalPath = url.pathname
    .split('/')
    .map((segment) => uriEncode(decodeURIComponent(segment)))
    .join('/')
  const canonicalRequest = [
    'GET',
    canonicalPath,
    canonicalQuery,
    `host:${url.host}`,
    '',
    'host',
    'UNSIGNED-PAYLOAD',
  ].join('\n')
  const scope = `${date}/${region}/${service}/aws4_request`
  const stringToSign = [
    'AWS4-HMAC-SHA256',
    amzDate,
    scope,
    createHash('sha256').update(canonicalRequest).digest('hex'),
  ].join('\n')
  const signingKey = hmac(
    hmac(hmac(hmac(`AWS4${secretAccessKey}`, date as string), region as string), service as string),
    'aws4_request',
  )
  return hmac(signingKey, stringToSign).toString('hex')
}
