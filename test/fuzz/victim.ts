/**
 * Another user's data, seeded before the fuzz run and compared after it: a paused playback session, an uploaded
 * track, a completed audiobook job and its listening progress. The fuzzer knows the victim's ids (they are in its
 * id pool) but never the victim's token.
 */
import { expect } from 'bun:test'
import type { RunningServer } from '../support/server.ts'
import { until } from '../support/until.ts'
import { tinyWav } from './hostile.ts'

export interface Victim {
  userId: string
  /** Ids the fuzzer aims at: the job, the upload. */
  ids: string[]
  /** Everything the victim can read about their own data, as the API shows it. */
  snapshot(): Promise<Record<string, unknown>>
}

function multipart(
  fields: Record<string, string>,
  files: Record<string, { name: string; bytes: Uint8Array<ArrayBuffer> }>,
) {
  const form = new FormData()
  for (const [name, value] of Object.entries(fields)) form.append(name, value)
  for (const [name, file] of Object.entries(files)) form.append(name, new File([file.bytes], file.name))
  return form
}

export async function seedVictim(server: RunningServer, libraryTrackId: string): Promise<Victim> {
  const userId = 'victim'
  const token = await server.token(userId)
  const call = async (method: string, path: string, body?: BodyInit | object) => {
    const json = body !== undefined && !(body instanceof FormData)
    const response = await fetch(`${server.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(json ? { 'content-type': 'application/json' } : {}) },
      body: json ? JSON.stringify(body) : (body as BodyInit | undefined),
    })
    const text = await response.text()
    if (!response.ok) throw new Error(`victim ${method} ${path}: ${response.status} ${text}`)
    return JSON.parse(text) as Record<string, unknown>
  }

  const upload = await call(
    'POST',
    '/api/tracks',
    multipart({}, { file: { name: 'victim-upload.wav', bytes: tinyWav(4000) } }),
  )
  const uploadId = (upload.data as { id: string }).id
  await call('POST', `/tracks/play/${libraryTrackId}`, { currentTime: 12.5 })
  await call('POST', `/tracks/pause/${libraryTrackId}`, { currentTime: 30 })
  const job = await call(
    'POST',
    '/api/v1/jobs',
    multipart({ title: 'Victim Book' }, { files: { name: 'chapter.wav', bytes: tinyWav(8000) } }),
  )
  const jobId = job.job_id as string
  await until(
    () => call('GET', `/api/v1/jobs/${jobId}`),
    (current) => current.status === 'COMPLETED',
    60_000,
  )
  await call('PUT', `/api/v1/audio/${jobId}/progress`, { position: 0.5 })

  return {
    userId,
    ids: [jobId, uploadId],
    snapshot: async () => ({
      session: await call('GET', '/tracks/current-state'),
      tracks: await call('GET', '/api/tracks'),
      jobs: await call('GET', '/api/v1/jobs'),
      progress: await call('GET', `/api/v1/audio/${jobId}/progress`),
      metadata: await call('GET', `/api/v1/audio/${jobId}/metadata`),
    }),
  }
}

/** Fails when anything the victim sees about their data differs from `before`. */
export async function expectVictimUnchanged(victim: Victim, before: Record<string, unknown>): Promise<void> {
  expect(await victim.snapshot()).toEqual(before)
}
