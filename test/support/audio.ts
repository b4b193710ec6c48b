/** Audio files made by FFmpeg for tests and benches (the tests, not the server, spawn it directly here). */
import { join } from 'node:path'

export interface ToneOptions {
  frequency?: number
  /** Tags written with `-metadata name=value` (ID3 in an MP3, Vorbis comments in FLAC/Ogg). */
  metadata?: Record<string, string>
  /** Extra output arguments, e.g. `['-b:a', '128k']`. */
  args?: string[]
}

/** Writes `seconds` of a sine tone to `dir/name`; the extension picks the container (wav, mp3, ogg, m4a, …). */
export async function makeTone(
  dir: string,
  name: string,
  seconds: number,
  options: ToneOptions | number = {},
): Promise<string> {
  const {
    frequency = 440,
    metadata = {},
    args = [],
  } = typeof options === 'number' ? { frequency: options } : options
  const tags = Object.entries(metadata).flatMap(([key, value]) => ['-metadata', `${key}=${value}`])
  return makeFromLavfi(dir, name, `sine=frequency=${frequency}:duration=${seconds}`, [...tags, ...args])
}

/** Writes what FFmpeg's lavfi `source` makes (a sine, flite speech, …) to `dir/name`, with output `args`. */
export async function makeFromLavfi(
  dir: string,
  name: string,
  source: string,
  args: string[],
): Promise<string> {
  const path = join(dir, name)
  const proc = Bun.spawn(
    ['ffmpeg', '-v', 'error', '-nostdin', '-f', 'lavfi', '-i', source, ...args, '-y', path],
    {
      stdout: 'ignore',
      stderr: 'pipe',
    },
  )
  const [code, stderr] = await Promise.all([proc.exited, new Response(proc.stderr).text()])
  if (code !== 0) throw new Error(`ffmpeg could not make ${name}: ${stderr}`)
  return path
}

/** A free TCP port, so a server can be told its port (or PUBLIC_URL) before it starts. */
export function freePort(): number {
  const listener = Bun.listen({ hostname: '127.0.0.1', port: 0, socket: { data() {} } })
  const { port } = listener
  listener.stop(true)
  return port
}
