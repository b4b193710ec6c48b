/** The first line of `ffmpeg -version` (e.g. `ffmpeg version 5.1.6-0+deb12u1`), or an error saying what to install. */
export async function ffmpegVersion(ffmpegPath: string): Promise<string> {
  let proc: ReturnType<typeof Bun.spawn>
  try {
    proc = Bun.spawn([ffmpegPath, '-hide_banner', '-version'], {
      stdout: 'pipe',
      stderr: 'ignore',
      stdin: 'ignore',
    })
  } catch {
    throw new Error(
      `FFmpeg not found at "${ffmpegPath}": install it (apt-get install ffmpeg) or set FFMPEG_PATH`,
    )
  }
  const [text, code] = await Promise.all([new Response(proc.stdout as ReadableStream).text(), proc.exited])
  if (code !== 0) throw new Error(`"${ffmpegPath} -version" exited with ${code}`)
  return text.split('\n')[0]?.trim() ?? 'ffmpeg'
}
