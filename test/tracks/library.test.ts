import { afterAll, afterEach, beforeAll, describe, expect, test } from 'bun:test'
import { copyFileSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { AudioLibrary, libraryTrackId } from '../../src/tracks/library.ts'
import { makeTone } from '../support/audio.ts'
import { tempDir } from '../support/tmp.ts'
import { until } from '../support/until.ts'

const fixtures = tempDir('airwave-library-fixtures-')
let song: string
let other: string
beforeAll(async () => {
  song = await makeTone(fixtures.path, 'song.mp3', 2, { metadata: { title: 'First', artist: 'A' } })
  other = await makeTone(fixtures.path, 'other.mp3', 4, { metadata: { title: 'Second', artist: 'B' } })
})
afterAll(() => fixtures.remove())

const opened: Array<{ library: AudioLibrary; dir: { remove(): void } }> = []
afterEach(async () => {
  for (const { library, dir } of opened.splice(0)) {
    await library.close()
    dir.remove()
  }
})

/** A library over a fresh folder that `fill` prepares before the first scan. */
async function open(fill: (root: string) => void = () => {}, options: { maxFiles?: number } = {}) {
  const dir = tempDir('airwave-library-')
  fill(dir.path)
  const library = await AudioLibrary.open({ dir: dir.path, debounceMs: 50, maxDelayMs: 500, ...options })
  opened.push({ library, dir })
  return { library, root: dir.path }
}

const titles = (library: AudioLibrary) => library.tracks().map((track) => track.title)

describe('AudioLibrary scan', () => {
  test('finds audio files in every subfolder; skips hidden names, other extensions and non-audio content', async () => {
    const { library } = await open((root) => {
      mkdirSync(join(root, 'albums/one'), { recursive: true })
      mkdirSync(join(root, '.cache'))
      copyFileSync(song, join(root, 'albums/one/Band - Track.mp3'))
      copyFileSync(other, join(root, 'top.mp3'))
      copyFileSync(song, join(root, '.hidden.mp3'))
      copyFileSync(song, join(root, '.cache/cached.mp3'))
      copyFileSync(song, join(root, 'cover.jpg'))
      writeFileSync(join(root, 'broken.mp3'), 'not audio at all')
    })
    expect(library.tracks().map((t) => [t.title, t.artist])).toEqual([
      ['First', 'A'],
      ['Second', 'B'],
    ])
    const [first] = library.tracks()
    expect(first).toMatchObject({
      id: libraryTrackId('albums/one/Band - Track.mp3'),
      ownerId: null,
      size: readFileSync(song).length,
      format: 'mp3',
    })
    expect(library.get(first?.id as string)?.path).toEndWith('albums/one/Band - Track.mp3')
  })

  test('ids come from the relative path: stable across scans, different per file, 16 hex digits', async () => {
    const fill = (root: string) => {
      mkdirSync(join(root, 'z'))
      for (const name of ['b.mp3', 'a.mp3', 'z/c.mp3']) copyFileSync(song, join(root, name))
    }
    const first = await open(fill)
    const second = await open(fill)
    const ids = first.library.tracks().map((t) => t.id)
    expect(second.library.tracks().map((t) => t.id)).toEqual(ids)
    expect(ids).toEqual(['a.mp3', 'b.mp3', 'z/c.mp3'].map(libraryTrackId))
    expect(new Set(ids).size).toBe(3)
    for (const id of ids) expect(id).toMatch(/^[0-9a-f]{16}$/)
  })

  test('the library holds at most maxFiles files', async () => {
    const { library } = await open(
      (root) => {
        for (const name of ['a.mp3', 'b.mp3', 'c.mp3']) copyFileSync(song, join(root, name))
      },
      { maxFiles: 2 },
    )
    expect(library.size).toBe(2)
  })
})

describe('AudioLibrary watch', () => {
  test('added, changed and removed files (in new subfolders too) show up', async () => {
    const { library, root } = await open()
    expect(library.tracks()).toEqual([])

    mkdirSync(join(root, 'new/deeper'), { recursive: true })
    copyFileSync(song, join(root, 'new/deeper/x.mp3'))
    await until(
      () => titles(library),
      (t) => t.includes('First'),
    )
    const id = libraryTrackId('new/deeper/x.mp3')

    // Replaced in place (same path, so same id) by a different recording.
    writeFileSync(join(root, 'new/deeper/x.mp3'), readFileSync(other))
    await until(
      () => library.get(id)?.track.title,
      (title) => title === 'Second',
    )
    expect(library.get(id)?.track.size).toBe(readFileSync(other).length)

    rmSync(join(root, 'new/deeper/x.mp3'))
    await until(
      () => library.get(id),
      (file) => file === undefined,
    )
  })

  test('a renamed or removed folder takes its files with it', async () => {
    const { library, root } = await open((root) => {
      mkdirSync(join(root, 'album'))
      copyFileSync(song, join(root, 'album/one.mp3'))
      copyFileSync(other, join(root, 'album/two.mp3'))
    })
    expect(library.size).toBe(2)
    renameSync(join(root, 'album'), join(root, 'renamed'))
    await until(
      () => library.tracks().map((t) => t.id),
      (ids) => ids.join() === ['renamed/one.mp3', 'renamed/two.mp3'].map(libraryTrackId).join(),
    )
    rmSync(join(root, 'renamed'), { recursive: true })
    await until(
      () => library.size,
      (size) => size === 0,
    )
  })

  test('a file still being written is read again when it changes, never left half-read', async () => {
    const { library, root } = await open()
    const bytes = readFileSync(other)
    const path = join(root, 'copying.mp3')
    // The first part of a copy: already parseable as MP3, but short.
    writeFileSync(path, bytes.subarray(0, 4096))
    const id = libraryTrackId('copying.mp3')
    await until(
      () => library.get(id)?.track.size,
      (size) => size === 4096,
    )
    writeFileSync(path, bytes)
    const done = await until(
      () => library.get(id)?.track,
      (track) => track?.size === bytes.length,
    )
    expect(done?.title).toBe('Second')
    expect(done?.duration).toBeCloseTo(4, 0)
  })

  test('a watcher that fails is replaced: later changes are still seen', async () => {
    const { library, root } = await open()
    const watcher = (library as unknown as { watcher: import('node:fs').FSWatcher }).watcher
    watcher.emit('error', new Error('inotify queue overflow'))
    expect((library as unknown as { watcher: unknown }).watcher).not.toBe(watcher)
    copyFileSync(song, join(root, 'after-failure.mp3'))
    await until(
      () => library.get(libraryTrackId('after-failure.mp3'))?.track.title,
      (title) => title === 'First',
    )
  })
})
