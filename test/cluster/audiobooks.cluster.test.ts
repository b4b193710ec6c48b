/**
 * Audiobooks in a three-instance cluster behind nginx (issue 14, point 5): each upload is transcoded exactly once in
 * the whole cluster, and a job whose instance dies (mid-transcode, or still queued there) is finished by another.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { chmodSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { makeTone } from '../support/audio.ts'
import { skipClusterTests, startCluster, type TestCluster } from '../support/cluster.ts'
import { tempDir } from '../support/tmp.ts'
import { until } from '../support/until.ts'

type Json = Record<string, unknown>

const VICTIM = 2

describe.skipIf(skipClusterTests('audiobooks.cluster.test.ts'))('audiobooks in a cluster', () => {
  let cluster: TestCluster
  let token: string
  const files = tempDir('airwave-cluster-audiobooks-')
  /** While this file exists, the victim's MP3 transcodes hang until the victim dies (it is then killed mid-job). */
  const stallFlag = join(files.path, 'stall')
  const tones: string[] = []

  beforeAll(async () => {
    // FFmpeg as the victim instance runs it: its libmp3lame transcodes wait for the flag's removal or its own death.
    const bin = join(files.path, 'bin')
    Bun.spawnSync(['mkdir', '-p', bin])
    writeFileSync(
      join(bin, 'ffmpeg'),
      `#!/bin/sh
case "$*" in
  *libmp3lame*)
    if [ -e '${stallFlag}' ]; then
      while kill -0 $PPID 2>/dev/null; do sleep 0.1; done
      exit 1
    fi ;;
esac
exec ffmpeg "$@"
`,
    )
    writeFileSync(join(bin, 'ffprobe'), '#!/bin/sh\nexec ffprobe "$@"\n')
    chmodSync(join(bin, 'ffmpeg'), 0o755)
    chmodSync(join(bin, 'ffprobe'), 0o755)
    const [started] = await Promise.all([
      startCluster({
        env: { AUDIOBOOK_CLAIM_TTL_S: '3', AUDIOBOOK_CONCURRENCY: '1' },
        envFor: (i): Record<string, string> => (i === VICTIM ? { FFMPEG_PATH: join(bin, 'ffmpeg') } : {}),
      }),
      ...[330, 440, 550, 660].map(async (hz, i) => {
        tones[i] = await makeTone(files.path, `tone_${hz}.wav`, 2, hz)
      }),
    ])
    cluster = started
    token = await cluster.token('reader')
  }, 120_000)
  afterAll(async () => {
    await cluster?.stop()
    files.remove()
  })

  const upload = async (base: string, title: string, path: string) => {
    const form = new FormData()
    form.append('title', title)
    form.append('files', Bun.file(path), 'chapter.wav')
    const response = await fetch(`${base}/api/v1/jobs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}` },
      body: form,
    })
    expect(response.status).toBe(201)
    return ((await response.json()) as { job_id: string }).job_id
  }
  const job = async (jobId: string) => {
    const response = await fetch(`${cluster.url}/api/v1/jobs/${jobId}`, {
      headers: { authorization: `Bearer ${token}` },
    })
    return (await response.json()) as Json
  }
  const finished = (jobId: string) =>
    until(
      () => job(jobId),
      (body) => body.status === 'COMPLETED' || body.status === 'FAILED',
      30_000,
    )
  const claim = async (jobId: string) =>
    (
      (await cluster.sql`select status, claimed_by from audiobook_jobs where id = ${jobId}`) as Array<{
        status: string
        claimed_by: string | null
      }>
    )[0]
  const survivors = () => [0, 1, 2].filter((i) => i !== VICTIM)
  /** A counter summed over the /metrics of `instances` (all of them by default). */
  const counter = async (name: string, labels = '', instances = [0, 1, 2]) => {
    let sum = 0
    for (const i of instances) {
      const text = await (await fetch(`${cluster.urls[i]}/metrics`)).text()
      const line = text.split('\n').find((l) => l.startsWith(`${name}${labels} `))
      sum += line ? Number(line.split(' ')[1]) : 0
    }
    return sum
  }

  test('uploads through nginx are each transcoded exactly once in the cluster; any instance serves the audio', async () => {
    const ids = [
      await upload(cluster.url, 'One', tones[0] as string),
      await upload(cluster.url, 'Two', tones[1] as string),
      await upload(cluster.url, 'Three', tones[2] as string),
    ]
    for (const id of ids) expect(await finished(id)).toMatchObject({ status: 'COMPLETED', error: null })
    // Every instance looks for jobs to take over all along; none took a job its instance was processing.
    expect(await counter('airwave_audiobook_chapters_transcoded_total')).toBe(3)
    expect(await counter('airwave_audiobook_jobs_total', '{outcome="completed"}')).toBe(3)
    expect(await counter('airwave_audiobook_jobs_total', '{outcome="released"}')).toBe(0)
    for (const [i, id] of ids.entries()) {
      const audio = await fetch(`${cluster.urls[i]}/api/v1/jobs/${id}/audio`, {
        headers: { authorization: `Bearer ${token}` },
      })
      expect(audio.status).toBe(200)
      const { streaming_url } = (await audio.json()) as { streaming_url: string }
      const mp3 = await fetch(streaming_url)
      expect(mp3.status).toBe(200)
      expect((await mp3.arrayBuffer()).byteLength).toBeGreaterThan(10_000)
    }
  }, 60_000)

  test('an instance killed mid-transcode, with another job queued behind: both are finished by the others', async () => {
    writeFileSync(stallFlag, '')
    const transcoding = await upload(cluster.urls[VICTIM] as string, 'Interrupted', tones[3] as string)
    await until(
      () => claim(transcoding),
      (row) => row?.status === 'PROCESSING' && row.claimed_by === cluster.ids[VICTIM],
    )
    // One transcode at a time there: this one waits in the victim's queue.
    const queued = await upload(cluster.urls[VICTIM] as string, 'Queued', tones[0] as string)
    expect(await claim(queued)).toMatchObject({ status: 'PENDING', claimed_by: cluster.ids[VICTIM] })
    const before = await counter('airwave_audiobook_chapters_transcoded_total', '', survivors())

    await cluster.kill(VICTIM)
    for (const id of [transcoding, queued]) {
      expect(await finished(id)).toMatchObject({ status: 'COMPLETED', error: null, chapter_count: 1 })
      const row = await claim(id)
      expect(cluster.ids.filter((_, i) => i !== VICTIM)).toContain(row?.claimed_by as string)
    }
    // Each of the two was transcoded once more, by the survivors (the victim's half-done one never finished).
    const after = await counter('airwave_audiobook_chapters_transcoded_total', '', survivors())
    expect(after - before).toBe(2)
    const audio = await fetch(`${cluster.url}/api/v1/jobs/${transcoding}/audio`, {
      headers: { authorization: `Bearer ${token}` },
    })
    expect(audio.status).toBe(200)
  }, 60_000)
})
