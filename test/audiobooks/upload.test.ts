import { afterAll, describe, expect, test } from 'bun:test'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { chapterTitlesFrom, stageUpload, type UploadLimits } from '../../src/audiobooks/upload.ts'
import { cleanTitle } from '../../src/platform/display-text.ts'
import { AppError } from '../../src/platform/errors.ts'
import { tempDir } from '../support/tmp.ts'

const root = tempDir('airwave-upload-')
afterAll(() => root.remove())
const LIMITS: UploadLimits = { maxFileBytes: 1000, maxTotalBytes: 2500, maxChapters: 3 }
let n = 0
const freshDir = () => join(root.path, `job-${++n}`)

function form(fields: Array<[string, string | File]>): Request {
  const body = new FormData()
  for (const [name, value] of fields) body.append(name, value)
  return new Request('http://airwave.test/api/v1/jobs', { method: 'POST', body })
}
const file = (name: string, size: number, fill = 7) => new File([new Uint8Array(size).fill(fill)], name)

async function refusal(request: Request, limits = LIMITS) {
  const dir = freshDir()
  const error = await stageUpload(request, dir, limits).catch((e: unknown) => e)
  expect(error).toBeInstanceOf(AppError)
  // Nothing is left behind by a refused upload.
  expect(existsSync(dir)).toBe(false)
  const { status, code, message } = error as AppError
  return { status, code, message }
}

describe('stageUpload', () => {
  test('streams each file to source_{n} and keeps titles in order', async () => {
    const dir = freshDir()
    const upload = await stageUpload(
      form([
        ['title', '  My   Book '],
        ['files', file('one.wav', 1000, 1)],
        ['chapter_titles', 'Introduction'],
        ['files', file('two.mp3', 900, 2)],
        ['chapter_titles', 'The Journey Begins'],
      ]),
      dir,
      LIMITS,
    )
    expect(upload).toEqual({
      title: 'My Book',
      chapterTitles: ['Introduction', 'The Journey Begins'],
      files: [
        { path: join(dir, 'source_1'), name: 'one.wav', size: 1000 },
        { path: join(dir, 'source_2'), name: 'two.mp3', size: 900 },
      ],
    })
    expect(readFileSync(join(dir, 'source_1'))).toEqual(Buffer.alloc(1000, 1))
    expect(readFileSync(join(dir, 'source_2'))).toEqual(Buffer.alloc(900, 2))
  })

  test('chapter_titles as one JSON array; missing titles become "Chapter n"', async () => {
    const upload = await stageUpload(
      form([
        ['title', 'B'],
        ['chapter_titles', '["Intro", ""]'],
        ['files', file('a', 10)],
        ['files', file('b', 10)],
      ]),
      freshDir(),
      LIMITS,
    )
    expect(upload.chapterTitles).toEqual(['Intro', 'Chapter 2'])
    const untitled = await stageUpload(
      form([
        ['title', 'B'],
        ['files', file('a', 10)],
      ]),
      freshDir(),
      LIMITS,
    )
    expect(untitled.chapterTitles).toEqual(['Chapter 1'])
  })

  test('titles lose control characters, so they cannot break playlists or logs', () => {
    expect(cleanTitle('a\r\n#EXTINF:1,x\u0000\tb')).toBe('a #EXTINF:1,x b')
    expect(cleanTitle('a\u007f\u0085\u009fb')).toBe('a b')
    expect(chapterTitlesFrom(['["a","b"]'])).toEqual(['a', 'b'])
    expect(chapterTitlesFrom(['[Prologue]'])).toEqual(['[Prologue]'])
    expect(() => chapterTitlesFrom(['[1, 2]'])).toThrow('JSON array of strings')
  })

  test('415 for anything but multipart/form-data', async () => {
    const request = new Request('http://airwave.test/api/v1/jobs', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"title":"x"}',
    })
    expect(await refusal(request)).toMatchObject({ status: 415, code: 'UNSUPPORTED_MEDIA_TYPE' })
  })

  test('413 from Content-Length alone, before reading the body', async () => {
    // The body never ends: reading it would hang the test.
    const request = new Request('http://airwave.test/api/v1/jobs', {
      method: 'POST',
      headers: {
        'content-type': 'multipart/form-data; boundary=x',
        'content-length': String(10 * 1024 * 1024),
      },
      body: new ReadableStream({ pull: () => new Promise(() => {}) }),
    })
    expect(await refusal(request)).toMatchObject({ status: 413, code: 'UPLOAD_TOO_LARGE' })
  })

  test('413 for one file over the per-file limit, naming it', async () => {
    const result = await refusal(
      form([
        ['title', 't'],
        ['files', file('big.wav', 1001)],
      ]),
    )
    expect(result).toEqual({
      status: 413,
      code: 'FILE_TOO_LARGE',
      message: '"big.wav" is larger than 1000 bytes, the most one file may be',
    })
  })

  test('413 when the files together pass the total', async () => {
    const result = await refusal(
      form([
        ['title', 't'],
        ['files', file('a', 1000)],
        ['files', file('b', 1000)],
        ['files', file('c', 501)],
      ]),
    )
    expect(result).toMatchObject({ status: 413, code: 'UPLOAD_TOO_LARGE' })
  })

  test('413 for more chapters than allowed', async () => {
    const files: Array<[string, File]> = [1, 2, 3, 4].map((i) => ['files', file(`f${i}`, 10)])
    const result = await refusal(form([['title', 't'], ...files]))
    expect(result).toEqual({
      status: 413,
      code: 'TOO_MANY_CHAPTERS',
      message: 'Too many files: a job may have at most 3 chapters',
    })
  })

  test('400 for what is missing or malformed', async () => {
    expect(await refusal(form([['files', file('a', 10)]]))).toMatchObject({
      status: 400,
      code: 'TITLE_REQUIRED',
    })
    expect(await refusal(form([['title', 't']]))).toMatchObject({ status: 400, code: 'FILES_REQUIRED' })
    expect(
      await refusal(
        form([
          ['title', 't'],
          ['files', file('a', 0)],
        ]),
      ),
    ).toMatchObject({
      status: 400,
      code: 'EMPTY_FILE',
    })
    expect(
      await refusal(
        form([
          ['title', 't'],
          ['file', file('a', 10)],
        ]),
      ),
    ).toMatchObject({
      status: 400,
      code: 'UNEXPECTED_FILE',
    })
    expect(
      await refusal(
        form([
          ['title', 't'],
          ['chapter_titles', 'only one'],
          ['chapter_titles', 'two'],
          ['files', file('a', 10)],
        ]),
      ),
    ).toMatchObject({ status: 400, code: 'CHAPTER_TITLES_MISMATCH' })
    expect(
      await refusal(
        form([
          ['title', 't'],
          ['chapter_titles', '[1, 2]'],
          ['files', file('a', 10)],
        ]),
      ),
    ).toMatchObject({ status: 400, code: 'INVALID_CHAPTER_TITLES' })
    expect(
      await refusal(
        form([
          ['title', 'x'.repeat(301)],
          ['files', file('a', 10)],
        ]),
      ),
    ).toMatchObject({
      status: 400,
      code: 'TITLE_TOO_LONG',
    })
    const truncated = new Request('http://airwave.test/api/v1/jobs', {
      method: 'POST',
      headers: { 'content-type': 'multipart/form-data; boundary=B' },
      body: '--B\r\nContent-Disposition: form-data; name="title"\r\n\r\nhalf a bo',
    })
    expect(await refusal(truncated)).toMatchObject({ status: 400, code: 'MALFORMED_UPLOAD' })
  })
})
