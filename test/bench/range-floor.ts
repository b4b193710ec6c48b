/**
 * The floor for test/bench/range.bench.ts: a bare Bun.serve answering `bytes=a-b` with a `Bun.file` slice, the way
 * Airwave does, with none of its work (no token check, no catalog, no validators, no hooks). Prints its port.
 *
 *   bun test/bench/range-floor.ts <file>
 */
const path = process.argv[2] as string
const size = Bun.file(path).size
const floor = Bun.serve({
  port: 0,
  hostname: '127.0.0.1',
  fetch(request) {
    const match = /^bytes=(\d+)-(\d+)$/.exec(request.headers.get('range') ?? '')
    if (!match) return new Response(Bun.file(path), { headers: { 'Content-Type': 'audio/wav' } })
    const first = Number(match[1])
    const last = Number(match[2])
    return new Response(Bun.file(path).slice(first, last + 1), {
      status: 206,
      headers: { 'Content-Type': 'audio/wav', 'Content-Range': `bytes ${first}-${last}/${size}` },
    })
  },
})
console.log(`listening ${floor.port}`)
