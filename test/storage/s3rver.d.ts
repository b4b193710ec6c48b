/** The slice of s3rver 3.x (which ships no types) that the S3 tests use. */
declare module 's3rver' {
  interface S3rverOptions {
    port?: number
    address?: string
    silent?: boolean
    directory?: string
    configureBuckets?: { name: string; configs?: (string | Uint8Array)[] }[]
  }

  export default class S3rver {
    constructor(options?: S3rverOptions)
    run(): Promise<{ address: string; family: string; port: number }>
    close(): Promise<void>
  }
}
