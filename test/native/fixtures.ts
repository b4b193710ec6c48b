/** Real Opus files for the native tests, made by FFmpeg in a temp dir, FFprobe's view of them, and helpers. */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export interface ProbedPacket {
  size: number
  /** In the stream time base, 1/48000 s for Opus. */
  duration: number
}

/** Runs a tool at `-v error`, so anything on stderr is a complaint about the file: fail on it. */
function run(command: string[]): Uint8Array {
  const result = Bun.spawnSync(command, { stdout: 'pipe', stderr: 'pipe' })
  const complaints = result.stderr.toString().trim()
  if (result.exitCode !== 0 || complaints !== '') {
    throw new Error(`${command[0]} failed (exit ${result.exitCode}): ${complaints}`)
  }
  return result.stdout
}

export function makeTempDir(): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'airwave-native-test-'))
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) }
}

/** Encodes a lavfi source (e.g. `sine=frequency=440:duration=5`) to Ogg Opus with extra libopus args. */
export function encodeOpus(path: string, source: string, args: string[]): Uint8Array {
  run(['ffmpeg', '-v', 'error', '-y', '-f', 'lavfi', '-i', source, '-c:a', 'libopus', ...args, path])
  return new Uint8Array(readFileSync(path))
}

export function probePackets(path: string): ProbedPacket[] {
  const json = JSON.parse(
    run(['ffprobe', '-v', 'error', '-show_packets', '-of', 'json', path]).toString(),
  ) as {
    packets: { size: string; duration: number }[]
  }
  return json.packets.map((packet) => ({ size: Number(packet.size), duration: packet.duration }))
}

/** Samples FFmpeg decodes from the file at 48 kHz mono, after pre-skip and end trimming. */
export function decodedSamples(path: string): number {
  const pcm = run(['ffmpeg', '-v', 'error', '-i', path, '-f', 's16le', '-ac', '1', '-ar', '48000', '-'])
  return pcm.byteLength / 2
}

/** `items[index]`, failing the test with a clear message when it is missing (negative counts from the end). */
export function itemAt<T>(items: ArrayLike<T>, index: number): T {
  const item = items[index < 0 ? items.length + index : index]
  if (item === undefined) throw new Error(`expected an item at index ${index} of ${items.length}`)
  return item
}
