/** Audio files made by FFmpeg for the audiobook tests (the tests, not the server, spawn it directly here). */
import { join } from 'node:path'

/** Writes `seconds` of a sine tone to `dir/name`; the extension picks the container (wav, mp3, ogg, m4a, …). */
export async function makeTone(dir: string, name: string, seconds: number, frequency = 440): Promise<string> {
  const path = join(dir, name)
  const proc = Bun.spawn(
    [
      'ffmpeg',
      '-v',
      'error',
      '-nostdin',
      '-f',
      'lavfi',
      '-i',
      `sine=frequency=${frequency}:duration=${seconds}`,
      '-y',
      path,
    ],
    { stdout: 'ignore', stderr: 'pipe' },
  )
  const [code, stderr] = await Promise.all([proc.exited, new Response(proc.stderr).text()])
  if (code !== 0) throw new Error(`ffmpeg could not make ${name}: ${stderr}`)
  return path
}

/** The duration ffprobe reports for a file or URL, independently of the server's own probing. */
export async function ffprobeDuration(input: string): Promise<number> {
  const proc = Bun.spawn(
    ['ffprobe', '-v', 'error', '-show_entries', 'format=duration', '-of', 'default=nw=1:nk=1', input],
    { stdout: 'pipe', stderr: 'pipe' },
  )
  const [code, out] = await Promise.all([proc.exited, new Response(proc.stdout).text()])
  if (code !== 0) throw new Error(`ffprobe failed on ${input}`)
  return Number(out.trim())
}

/** A free TCP port, so a server can be told its PUBLIC_URL before it starts. */
export function freePort(): number {
  const listener = Bun.listen({ hostname: '127.0.0.1', port: 0, socket: { data() {} } })
  const { port } = listener
  listener.stop(true)
  return port
}
