import { afterAll, beforeAll, expect } from 'bun:test'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import S3rver from 's3rver'
import { aliasDesCipherForS3rver, sigV4QuerySignature } from '../support/s3.ts'
import { audiobookApiSuite, SIGNED_URL_TTL } from './api-suite.ts'

const BUCKET = 'airwave-audiobooks'
// s3rver's only account; it checks the key id and the expiry of pre-signed URLs, but not their signatures.
const CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' }
const REGION = 'eu-west-3'
// Browser playback from another origin needs the bucket's CORS rules, which the operator sets on the bucket.
const CORS = `<CORSConfiguration><CORSRule><AllowedOrigin>http://player.test</AllowedOrigin>
<AllowedMethod>GET</AllowedMethod><AllowedMethod>HEAD</AllowedMethod><AllowedHeader>*</AllowedHeader>
<ExposeHeader>Content-Range</ExposeHeader><ExposeHeader>Accept-Ranges</ExposeHeader></CORSRule></CORSConfiguration>`

let restoreCiphers: () => void
let directory: string
let s3: S3rver
let endpoint: string

beforeAll(async () => {
  restoreCiphers = aliasDesCipherForS3rver()
  directory = await mkdtemp(join(tmpdir(), 'airwave-s3rver-'))
  s3 = new S3rver({
    port: 0,
    address: '127.0.0.1',
    silent: true,
    directory,
    configureBuckets: [{ name: BUCKET, configs: [CORS] }],
  })
  const { port } = await s3.run()
  endpoint = `http://127.0.0.1:${port}`
})

afterAll(async () => {
  await s3.close()
  await rm(directory, { recursive: true, force: true })
  restoreCiphers()
})

audiobookApiSuite({
  name: 's3',
  env: () => ({
    S3_ENDPOINT: endpoint,
    S3_REGION: REGION,
    S3_BUCKET: BUCKET,
    S3_ACCESS_KEY_ID: CREDENTIALS.accessKeyId,
    S3_SECRET_ACCESS_KEY: CREDENTIALS.secretAccessKey,
    S3_FORCE_PATH_STYLE: 'true',
  }),
  urlPrefix: () => `${endpoint}/${BUCKET}/jobs/`,
  expiredStatus: 403,
  // s3rver does not verify SigV4 signatures (a tampered URL still gets 200 there), so the URL's signature is
  // recomputed from the spec with the bucket's secret: it must match, and every edit must change it.
  async expectTamperRefused(url) {
    const parsed = new URL(url)
    const query = parsed.searchParams
    expect(query.get('X-Amz-Algorithm')).toBe('AWS4-HMAC-SHA256')
    expect(query.get('X-Amz-Expires')).toBe(String(SIGNED_URL_TTL))
    expect(query.get('response-content-type')).toBe('audio/mpeg')
    expect(query.get('response-content-disposition')).toBe('inline')
    expect(query.get('response-cache-control')).toBe('public, max-age=3600')
    const signature = query.get('X-Amz-Signature')
    expect(sigV4QuerySignature(parsed, CREDENTIALS.secretAccessKey)).toBe(signature as string)
    const edits: Array<(u: URL) => void> = [
      (u) => {
        u.pathname = u.pathname.replace('chapter_1.mp3', 'chapter_2.mp3')
      },
      (u) => u.searchParams.set('response-content-disposition', 'attachment'),
      (u) => u.searchParams.set('X-Amz-Expires', '604800'),
    ]
    for (const edit of edits) {
      const tampered = new URL(url)
      edit(tampered)
      expect(sigV4QuerySignature(tampered, CREDENTIALS.secretAccessKey)).not.toBe(signature as string)
    }
  },
})
