/**
 * The floor for test/bench/range.bench.ts: a bare Bun.serve answering `bytes=a-b` the way Airwave does (small
 * ranges with one pread from a descriptor kept open into one reused buffer, larger ones and the whole file as
 * `Bun.file` slices), with
 * none of its other work (no token check, catalog, validators, hooks or logs). Prints its port.
 *
 *   bun test/bench/range-floor.ts <file>
 */
import { openSync, readSync } from 'node:fs'
import { MAX_BUFFERED_RANGE_BYTES } from '../../src/platform/open-files.ts'

const path = process.argv[2] as string
const size = Bun.file(path).size
const fd = openSync(path, 'r')
const scratch = Buffer.allocUnsafeSlow(MAX_BUFFERED_RANGE_BYTES)
const floor = Bun.serve({
  port: 0,
  hostname: '127.0.0.1',
  fetch(request) {
    const match = /^bytes=(\d+)-(\d+)$/.exec(request.headers.get('range') ?? '')
    if (!match) return new Response(Bun.file(path), { headers: { 'Content-Type': 'audio/wav' } })
    const first = Number(match[1])
    const last = Number(match[2])
    const length = last - first + 1
    let body: Blob | Uint8Array<ArrayBuffer> = Bun.file(path).slice(first, last + 1)
    if (length <= MAX_BUFFERED_RANGE_BYTES) {
      body = scratch.subarray(0, length)
      readSync(fd, body, 0, length, first)
    }
    return new Response(body, {
      status: 206,
      headers: { 'Content-Type': 'audio/wav', 'Content-Range': `bytes ${first}-${last}/${size}` },
    })
  },
})
console.log(`listening on ${floor.port}`)
