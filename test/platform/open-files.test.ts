import { afterAll, describe, expect, test } from 'bun:test'
import { readdirSync, renameSync, statSync, truncateSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { OpenFiles } from '../../src/platform/open-files.ts'
import { tempDir } from '../support/tmp.ts'

const dir = tempDir('airwave-open-files-')
afterAll(() => dir.remove())

const openDescriptors = () => readdirSync('/proc/self/fd').length

describe('OpenFiles', () => {
  test('reads exact ranges and keeps one descriptor per file', () => {
    const path = join(dir.path, 'a.bin')
    writeFileSync(path, Buffer.from('0123456789abcdef'))
    const files = new OpenFiles(4)
    const before = openDescriptors()
    expect(Buffer.from(files.read(path, statSync(path), 3, 5) as Uint8Array).toString()).toBe('34567')
    expect(Buffer.from(files.read(path, statSync(path), 10, 6) as Uint8Array).toString()).toBe('abcdef')
    expect(files.size).toBe(1)
    expect(openDescriptors()).toBe(before + 1)
    files.closeAll()
    expect(openDescriptors()).toBe(before)
  })

  test('a file replaced under the same path is opened again; the old descriptor is closed', () => {
    const path = join(dir.path, 'b.bin')
    writeFileSync(path, 'old content')
    const files = new OpenFiles(4)
    const before = openDescriptors()
    expect(Buffer.from(files.read(path, statSync(path), 0, 3) as Uint8Array).toString()).toBe('old')
    writeFileSync(join(dir.path, 'b.new'), 'new content')
    renameSync(join(dir.path, 'b.new'), path)
    expect(Buffer.from(files.read(path, statSync(path), 0, 3) as Uint8Array).toString()).toBe('new')
    expect(openDescriptors()).toBe(before + 1)
    files.closeAll()
  })

  test('bounded: past maxOpen the least recently used descriptor is closed', () => {
    const files = new OpenFiles(2)
    const before = openDescriptors()
    const paths = ['c1', 'c2', 'c3'].map((name) => {
      const path = join(dir.path, name)
      writeFileSync(path, name)
      return path
    })
    for (const path of paths) files.read(path, statSync(path), 0, 2)
    expect(files.size).toBe(2)
    expect(openDescriptors()).toBe(before + 2)
    files.closeAll()
    expect(openDescriptors()).toBe(before)
  })

  test('a file that shrank since its stat gives undefined, never a short or stale buffer', () => {
    const path = join(dir.path, 'd.bin')
    writeFileSync(path, '0123456789')
    const identity = statSync(path)
    truncateSync(path, 4)
    const files = new OpenFiles(2)
    expect(files.read(path, identity, 2, 5)).toBeUndefined()
    expect(Buffer.from(files.read(path, identity, 0, 4) as Uint8Array).toString()).toBe('0123')
    files.closeAll()
  })
})

describe('OpenFiles identity on opening', () => {
  test('a path that names another file than the stat said (replaced since) gives undefined, not its bytes', () => {
    const path = join(dir.path, 'e.bin')
    writeFileSync(path, 'old content')
    const identity = statSync(path)
    writeFileSync(join(dir.path, 'e.new'), 'new content')
    renameSync(join(dir.path, 'e.new'), path)
    const files = new OpenFiles(2)
    const before = openDescriptors()
    expect(files.read(path, identity, 0, 3)).toBeUndefined()
    expect(openDescriptors()).toBe(before)
    expect(Buffer.from(files.read(path, statSync(path), 0, 3) as Uint8Array).toString()).toBe('new')
    files.closeAll()
  })
})
