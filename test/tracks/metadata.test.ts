import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { copyFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { nameParts, readTrackInfo } from '../../src/tracks/metadata.ts'
import { makeTone } from '../support/audio.ts'
import { tempDir } from '../support/tmp.ts'

const dir = tempDir('airwave-metadata-')
afterAll(() => dir.remove())

let tagged: string
beforeAll(async () => {
  tagged = await makeTone(dir.path, 'tagged.mp3', 3, {
    metadata: { title: 'Night Drive', artist: 'The Testers', album: 'Fixtures' },
    args: ['-b:a', '128k'],
  })
})

describe('readTrackInfo', () => {
  test('an MP3 with ID3 tags: tags, duration, bitrate, format, codec', async () => {
    const info = await readTrackInfo(tagged, 'tagged.mp3')
    expect(info).toMatchObject({
      title: 'Night Drive',
      artist: 'The Testers',
      album: 'Fixtures',
      bitrate: 128,
      format: 'mp3',
      codec: 'MPEG 1 Layer 3',
      mimeType: 'audio/mpeg',
    })
    expect(info?.duration).toBeCloseTo(3, 1)
  })

  test('without tags the file name gives title and artist', async () => {
    const flac = await makeTone(dir.path, 'untagged.flac', 1)
    const info = await readTrackInfo(flac, 'Some Band - Other Song.flac')
    expect(info).toMatchObject({
      title: 'Other Song',
      artist: 'Some Band',
      album: null,
      format: 'flac',
      mimeType: 'audio/flac',
    })
  })

  test('formats are named by content: Ogg Opus is opus, WAV is wav, AAC in MP4 is m4a', async () => {
    const cases: Array<[string, string, string]> = [
      ['a.opus', 'opus', 'audio/ogg'],
      ['a.ogg', 'ogg', 'audio/ogg'],
      ['a.wav', 'wav', 'audio/wav'],
      ['a.m4a', 'm4a', 'audio/mp4'],
    ]
    for (const [name, format, mimeType] of cases) {
      const path = await makeTone(dir.path, name, 1)
      expect(await readTrackInfo(path, name)).toMatchObject({ format, mimeType })
    }
  })

  test('content decides, not the name: an MP3 stored without extension is an MP3', async () => {
    const bare = join(dir.path, 'source_1')
    copyFileSync(tagged, bare)
    expect(await readTrackInfo(bare, 'upload.bin')).toMatchObject({ format: 'mp3', title: 'Night Drive' })
  })

  test('not audio → undefined, whatever the name says', async () => {
    const text = join(dir.path, 'notes.mp3')
    writeFileSync(text, 'just some text, not an MP3\n'.repeat(100))
    expect(await readTrackInfo(text, 'notes.mp3')).toBeUndefined()
    const noise = join(dir.path, 'noise')
    writeFileSync(noise, crypto.getRandomValues(new Uint8Array(64 * 1024)))
    expect(await readTrackInfo(noise, 'noise.flac')).toBeUndefined()
    expect(await readTrackInfo(join(dir.path, 'missing.mp3'), 'missing.mp3')).toBeUndefined()
  })

  test('tags lose control characters and are bounded', async () => {
    const path = await makeTone(dir.path, 'long.mp3', 1, {
      metadata: { title: `A\tB ${'x'.repeat(400)}`, artist: ' Spaced   Out ' },
    })
    const info = await readTrackInfo(path, 'long.mp3')
    expect(info?.title.startsWith('A B xxx')).toBe(true)
    expect(info?.title.length).toBe(300)
    expect(info?.artist).toBe('Spaced Out')
  })
})

describe('nameParts', () => {
  test.each([
    ['Artist - Title.mp3', 'Title', 'Artist'],
    ['Artist - Title - Live.mp3', 'Title - Live', 'Artist'],
    ['01 - Title.mp3', 'Title', undefined],
    ['07. Some Title.flac', 'Some Title', undefined],
    ['just_a_name.ogg', 'just a name', undefined],
    ['', 'Untitled', undefined],
  ])('%s → %s by %s', (fileName, title, artist) => {
    expect(nameParts(fileName)).toEqual({ title, artist })
  })
})
