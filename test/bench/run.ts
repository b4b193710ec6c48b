/**
 * Runs every benchmark in this folder one after another (each in its own process, so none disturbs another),
 * or only those whose names contain one of the arguments: `bun run bench -- radio native`.
 */
import { readdirSync } from 'node:fs'

const filters = process.argv.slice(2)
const benches = readdirSync(import.meta.dir)
  .filter((name) => name.endsWith('.bench.ts'))
  .filter((name) => filters.length === 0 || filters.some((f) => name.includes(f)))
  .sort()

let failed = 0
for (const name of benches) {
  console.log(`\n=== ${name}`)
  const proc = Bun.spawn(['bun', `${import.meta.dir}/${name}`], { stdout: 'inherit', stderr: 'inherit' })
  const code = await proc.exited
  if (code !== 0) {
    failed += 1
    console.error(`${name} exited with ${code}`)
  }
}
process.exit(failed === 0 ? 0 : 1)
