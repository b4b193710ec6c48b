/**
 * AudioLibrary's `onChange`: reported as soon as the watcher sees a change, before the debounced re-read, so what
 * streaming keeps about a file (src/tracks/stream-files.ts) is checked again at once.
 */
import { afterAll, expect, test } from 'bun:test'
import { readFileSync, writeFileSync } from 'node:fs'
import { AudioLibrary, libraryTrackId } from '../../src/tracks/library.ts'
import { makeTone } from '../support/audio.ts'
import { tempDir } from '../support/tmp.ts'
import { until } from '../support/until.ts'

const dir = tempDir('airwave-library-changes-')
const source = tempDir('airwave-library-changes-src-')
afterAll(() => {
  dir.remove()
  source.remove()
})

test('a change is reported before the debounced re-read, and markChanged reports too', async () => {
  const path = await makeTone(dir.path, 'x.mp3', 1)
  const other = await makeTone(source.path, 'y.mp3', 3)
  let changes = 0
  const library = await AudioLibrary.open({ dir: dir.path, debounceMs: 2000, onChange: () => changes++ })
  try {
    const id = libraryTrackId('x.mp3')
    const sizeBefore = library.get(id)?.track.size
    expect(changes).toBe(0)
    writeFileSync(path, readFileSync(other))
    await until(
      () => changes,
      (count) => count > 0,
    )
    // Reported while the catalog still holds the old entry (its re-read waits for the 2 s debounce).
    expect(library.get(id)?.track.size).toBe(sizeBefore as number)
    const seen = changes
    library.markChanged('x.mp3')
    expect(changes).toBe(seen + 1)
  } finally {
    await library.close()
  }
})
