/** Audio helpers for the audiobook tests; tones and ports come from test/support/audio.ts. */
export { freePort, makeTone } from '../support/audio.ts'

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
