/**
 * The track list, uploads, the watched library folder and restarts, against the real server (`bun src/main.ts`).
 * One DATA_DIR and one library folder live across a restart.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { libraryTrackId } from '../../src/tracks/library.ts'
import type { trackJson } from '../../src/tracks/model.ts'
import { makeTone } from '../support/audio.ts'
import { type RunningServer, startServer } from '../support/server.ts'
import { tempDir } from '../support/tmp.ts'
import { until } from '../support/until.ts'
import { DOCUMENTED_TRACK_FIELDS } from './support.ts'

type TrackJson = ReturnType<typeof trackJson>

const data = tempDir('airwave-tracks-data-')
const library = tempDir('airwave-tracks-library-')
const fixtures = tempDir('airwave-tracks-fixtures-')
const MIB = 1024 * 1024
let server: RunningServer
let alice: string
let bob: string
let uploaded: TrackJson
let uploadedBytes: Buffer<ArrayBuffer>

const env = { DATA_DIR: data.path, AUDIO_FILES_DIR: library.path, TRACK_UPLOAD_MAX_MB: '1' }

async function start() {
  server = await startServer(env)
  alice = await server.token('alice')
  bob = await server.token('bob')
}

beforeAll(async () => {
  mkdirSync(join(library.path, 'sub'))
  await makeTone(library.path, 'Alpha - First.mp3', 2, {
    metadata: { title: 'Tagged One', artist: 'Tag Artist' },
  })
  await makeTone(library.path, 'sub/Beta Band - Untagged Song.flac', 3)
  await makeTone(fixtures.path, 'upload.mp3', 2, {
    metadata: { title: 'Uploaded Song', artist: 'Alice' },
    args: ['-b:a', '96k'],
  })
  await makeTone(fixtures.path, 'retagged.mp3', 1, { metadata: { title: 'Retagged', artist: 'Tag Artist' } })
  await makeTone(fixtures.path, 'added.mp3', 1, { metadata: { title: 'Added Later' } })
  await start()
})

afterAll(async () => {
  await server?.stop()
  for (const dir of [data, library, fixtures]) dir.remove()
})

const call = (path: string, token: string | undefined, init: RequestInit = {}) =>
  fetch(`${server.url}${path}`, {
    ...init,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(init.headers ?? {}) },
  })

async function list(token: string): Promise<TrackJson[]> {
  const response = await call('/api/tracks', token)
  expect(response.status).toBe(200)
  const body = (await response.json()) as { status: string; data: TrackJson[] }
  expect(body.status).toBe('success')
  return body.data
}

function upload(
  token: string | undefined,
  files: Array<[string, Blob, string]>,
  fields: Array<[string, string]> = [],
) {
  const form = new FormData()
  for (const [name, value] of fields) form.append(name, value)
  for (const [field, blob, fileName] of files) form.append(field, blob, fileName)
  return call('/api/tracks', token, { method: 'POST', body: form })
}

const fixture = (name: string) => new Blob([readFileSync(join(fixtures.path, name))])
const stagingLeft = () => {
  const staging = join(data.path, 'staging/tracks')
  return existsSync(staging) ? readdirSync(staging) : []
}
const storedUploads = () => readdirSync(join(data.path, 'uploads/tracks'))

describe('GET /api/tracks', () => {
  test('401 without a valid token', async () => {
    expect((await call('/api/tracks', undefined)).status).toBe(401)
    expect((await call('/api/tracks', 'nope')).status).toBe(401)
  })

  test('the library with tags, file-name fallbacks and ids from the relative path', async () => {
    const tracks = await list(alice)
    expect(
      tracks.map(({ id, title, artist, format, uploaded }) => ({ id, title, artist, format, uploaded })),
    ).toEqual([
      {
        id: libraryTrackId('Alpha - First.mp3'),
        title: 'Tagged One',
        artist: 'Tag Artist',
        format: 'mp3',
        uploaded: false,
      },
      {
        id: libraryTrackId('sub/Beta Band - Untagged Song.flac'),
        title: 'Untagged Song',
        artist: 'Beta Band',
        format: 'flac',
        uploaded: false,
      },
    ])
    const [mp3, flac] = tracks as [TrackJson, TrackJson]
    expect(mp3.size).toBe(readFileSync(join(library.path, 'Alpha - First.mp3')).length)
    expect(mp3.duration).toBeCloseTo(2, 0)
    expect(mp3.bitrate).toBeGreaterThan(0)
    expect(flac.duration).toBeCloseTo(3, 0)
    expect(Object.keys(mp3).slice(0, DOCUMENTED_TRACK_FIELDS.length)).toEqual(DOCUMENTED_TRACK_FIELDS)
  })
})

describe('POST /api/tracks', () => {
  test('201 with the track; only the uploader lists, streams and reads it', async () => {
    uploadedBytes = readFileSync(join(fixtures.path, 'upload.mp3'))
    const response = await upload(alice, [['file', fixture('upload.mp3'), 'anything.bin']])
    expect(response.status).toBe(201)
    const body = (await response.json()) as { status: string; data: TrackJson }
    expect(body.status).toBe('success')
    uploaded = body.data
    expect(uploaded).toMatchObject({
      title: 'Uploaded Song',
      artist: 'Alice',
      format: 'mp3',
      bitrate: 96,
      size: uploadedBytes.length,
      uploaded: true,
    })
    expect(uploaded.id).toMatch(/^[0-9a-f]{16}$/)

    expect((await list(alice)).map((t) => t.id)).toContain(uploaded.id)
    expect((await list(bob)).map((t) => t.id)).not.toContain(uploaded.id)

    const stream = await call(`/api/stream/${uploaded.id}`, alice, { headers: { range: 'bytes=100-' } })
    expect(stream.status).toBe(206)
    expect(Buffer.compare(Buffer.from(await stream.arrayBuffer()), uploadedBytes.subarray(100))).toBe(0)
    for (const path of [
      `/api/stream/${uploaded.id}`,
      `/tracks/stream/${uploaded.id}`,
      `/api/stream/${uploaded.id}/metadata`,
    ]) {
      const refused = await call(path, bob)
      expect(refused.status).toBe(404)
      expect(await refused.json()).toMatchObject({ status: 'error', code: 'TRACK_NOT_FOUND' })
    }
    expect((await call(`/api/stream/${uploaded.id}/metadata`, alice)).status).toBe(200)

    // Stored under DATA_DIR/uploads/tracks by id, byte for byte; nothing left half-received.
    expect(readFileSync(join(data.path, 'uploads/tracks', uploaded.id))).toEqual(uploadedBytes)
    expect(stagingLeft()).toEqual([])
  })

  test('without tags the title comes from the uploaded file name', async () => {
    const wav = await makeTone(fixtures.path, 'plain.wav', 1)
    const response = await upload(bob, [['file', new Blob([readFileSync(wav)]), 'Someone - Wav Title.wav']])
    expect(response.status).toBe(201)
    expect(((await response.json()) as { data: TrackJson }).data).toMatchObject({
      title: 'Wav Title',
      artist: 'Someone',
      format: 'wav',
    })
  })

  test('415 for content that is not audio, whatever its name, and for bodies that are not multipart', async () => {
    const before = storedUploads()
    const text = await upload(alice, [['file', new Blob(['definitely not audio\n'.repeat(500)]), 'song.mp3']])
    expect(text.status).toBe(415)
    expect(await text.json()).toMatchObject({ status: 'error', code: 'NOT_AUDIO' })
    const noise = await upload(alice, [
      ['file', new Blob([crypto.getRandomValues(new Uint8Array(50_000))]), 'x.flac'],
    ])
    expect(noise.status).toBe(415)
    const json = await call('/api/tracks', alice, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ file: 'x' }),
    })
    expect(json.status).toBe(415)
    expect(await json.json()).toMatchObject({ code: 'UNSUPPORTED_MEDIA_TYPE' })
    expect(storedUploads()).toEqual(before)
    expect(stagingLeft()).toEqual([])
  })

  test('400 for a missing, misnamed, empty or second file; 401 without a token', async () => {
    const codes = async (response: Response) => [
      response.status,
      ((await response.json()) as { code: string }).code,
    ]
    expect(await codes(await upload(alice, [], [['title', 'x']]))).toEqual([400, 'FILE_REQUIRED'])
    expect(await codes(await upload(alice, [['audio', fixture('upload.mp3'), 'a.mp3']]))).toEqual([
      400,
      'UNEXPECTED_FILE',
    ])
    expect(await codes(await upload(alice, [['file', new Blob([]), 'empty.mp3']]))).toEqual([
      400,
      'EMPTY_FILE',
    ])
    expect(
      await codes(
        await upload(alice, [
          ['file', fixture('upload.mp3'), 'a.mp3'],
          ['file', fixture('upload.mp3'), 'b.mp3'],
        ]),
      ),
    ).toEqual([400, 'TOO_MANY_FILES'])
    expect((await upload(undefined, [['file', fixture('upload.mp3'), 'a.mp3']])).status).toBe(401)
    expect(stagingLeft()).toEqual([])
  })

  test('413 past TRACK_UPLOAD_MAX_MB (1 MiB here): while streaming, and from Content-Length alone', async () => {
    const before = storedUploads()
    // A valid MP3 header followed by more bytes than the limit: refused as it arrives, not after.
    const streamed = await upload(alice, [
      ['file', new Blob([uploadedBytes, new Uint8Array(MIB)]), 'big.mp3'],
    ])
    expect(streamed.status).toBe(413)
    expect(await streamed.json()).toMatchObject({ status: 'error', code: 'FILE_TOO_LARGE' })
    const declared = await upload(alice, [['file', new Blob([new Uint8Array(3 * MIB)]), 'huge.mp3']])
    expect(declared.status).toBe(413)
    // Exactly the limit is still accepted (its content is then judged: not audio).
    const atLimit = await upload(alice, [['file', new Blob([new Uint8Array(MIB)]), 'limit.mp3']])
    expect(atLimit.status).toBe(415)
    expect(storedUploads()).toEqual(before)
    expect(stagingLeft()).toEqual([])
  })
})

describe('the watched library folder', () => {
  test('added, changed and removed files show in the list while the server runs', async () => {
    mkdirSync(join(library.path, 'new'))
    copyFileSync(join(fixtures.path, 'added.mp3'), join(library.path, 'new/added.mp3'))
    const addedId = libraryTrackId('new/added.mp3')
    await until(
      async () => (await list(alice)).find((t) => t.id === addedId)?.title,
      (title) => title === 'Added Later',
    )

    const changedId = libraryTrackId('Alpha - First.mp3')
    copyFileSync(join(fixtures.path, 'retagged.mp3'), join(library.path, 'Alpha - First.mp3'))
    const changed = await until(
      async () => (await list(alice)).find((t) => t.id === changedId),
      (track) => track?.title === 'Retagged',
    )
    expect(changed?.size).toBe(readFileSync(join(fixtures.path, 'retagged.mp3')).length)
    const streamed = await call(`/api/stream/${changedId}`, alice)
    expect(Buffer.from(await streamed.arrayBuffer())).toEqual(
      readFileSync(join(fixtures.path, 'retagged.mp3')),
    )

    const removedId = libraryTrackId('sub/Beta Band - Untagged Song.flac')
    rmSync(join(library.path, 'sub'), { recursive: true })
    await until(
      async () => (await list(alice)).map((t) => t.id),
      (ids) => !ids.includes(removedId),
    )
    expect((await call(`/api/stream/${removedId}`, alice)).status).toBe(404)
  })
})

describe('restarts', () => {
  test('library ids and uploads survive a restart', async () => {
    const before = { alice: await list(alice), bob: await list(bob) }
    expect(await server.stop()).toBe(0)
    await start()
    expect(await list(alice)).toEqual(before.alice)
    expect(await list(bob)).toEqual(before.bob)
    expect(before.alice.map((t) => t.id)).toContain(uploaded.id)
    const stream = await call(`/api/stream/${uploaded.id}`, alice)
    expect(Buffer.from(await stream.arrayBuffer())).toEqual(uploadedBytes)
    expect((await call(`/api/stream/${uploaded.id}`, bob)).status).toBe(404)
  })
})
