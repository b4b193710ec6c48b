/** Runs the radio load generator (radio-client.ts) in its own process and returns what it measured. */
import { join } from 'node:path'

export interface RadioClientOptions {
  mode: 'broadcast' | 'ingest'
  /** Instances listeners connect to, spread evenly. */
  listenBases: string[]
  /** Where chunks are posted, round-robin. */
  publishBases: string[]
  listenPath: string
  publishPath: string
  key: string
  listeners: number
  seconds: number
  /** One chunk's base64. */
  chunk: string
}

export interface RadioClientResult {
  connected: number
  posted: number
  failed: number
  postsPerSecond?: number
  expected: number
  received: number
  lost: number
  p50: number
  p99: number
  max: number
  /** The client process's own CPU time for the run. */
  cpuMs?: number
}

export async function runRadioClient(options: RadioClientOptions): Promise<RadioClientResult> {
  const client = Bun.spawn(['bun', join(import.meta.dir, 'radio-client.ts'), JSON.stringify(options)], {
    stdout: 'pipe',
    stderr: 'inherit',
    env: process.env,
  })
  const output = await new Response(client.stdout).text()
  await client.exited
  return JSON.parse(output.trim().split('\n').at(-1) ?? '{}') as RadioClientResult
}
