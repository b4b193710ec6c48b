/**
 * Builds the native addon (release mode) into native/airwave-native.node when it is missing or older
 * than any Rust source or Cargo manifest. `--force` rebuilds regardless. Runs as postinstall, so it
 * must stay quiet when there is nothing to do and say exactly what is missing when it cannot build.
 */
import { copyFileSync, existsSync, readdirSync, renameSync, statSync, utimesSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const nativeDir = fileURLToPath(new URL('..', import.meta.url))
const addonPath = join(nativeDir, 'airwave-native.node')
const manifestPath = join(nativeDir, 'Cargo.toml')
const bindingCrate = 'airwave-native'
/** Cargo's name for the binding's library target; dependencies may build shared libraries of their own. */
const bindingTarget = 'airwave_native'
const skippedDirs = new Set(['target', 'node_modules', 'scripts'])

function newestInputMtime(dir: string): number {
  let newest = 0
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) {
      if (!skippedDirs.has(entry.name)) newest = Math.max(newest, newestInputMtime(path))
    } else if (entry.name.endsWith('.rs') || entry.name === 'Cargo.toml' || entry.name === 'Cargo.lock') {
      newest = Math.max(newest, statSync(path).mtimeMs)
    }
  }
  return newest
}

function isStale(): boolean {
  if (!existsSync(addonPath)) return true
  return statSync(addonPath).mtimeMs < newestInputMtime(nativeDir)
}

/** Runs cargo and returns the path of the built shared library, as cargo itself reports it. */
async function cargoBuild(cargo: string): Promise<string> {
  const build = Bun.spawn(
    [
      cargo,
      'build',
      '--release',
      '--manifest-path',
      manifestPath,
      '--package',
      bindingCrate,
      '--message-format=json-render-diagnostics',
    ],
    { stdout: 'pipe', stderr: 'inherit' },
  )
  const output = await new Response(build.stdout).text()
  if ((await build.exited) !== 0) throw new Error(`cargo build failed with exit code ${build.exitCode}`)
  for (const line of output.split('\n')) {
    if (!line.startsWith('{')) continue
    const message = JSON.parse(line) as {
      reason?: string
      target?: { name: string; kind: string[] }
      filenames?: string[]
    }
    if (message.reason !== 'compiler-artifact' || message.target?.name !== bindingTarget) continue
    if (!message.target.kind.includes('cdylib')) continue
    const library = message.filenames?.find((name) => /\.(so|dylib|dll)$/.test(name))
    if (library) return library
  }
  throw new Error('cargo build succeeded but reported no shared library for the addon')
}

async function main(): Promise<void> {
  const force = process.argv.includes('--force')
  if (!force && !isStale()) return
  const cargo = Bun.which('cargo')
  if (!cargo) {
    console.error(
      'Airwave needs a Rust toolchain to build its native addon: install it with https://rustup.rs ' +
        "(curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh), then run bun run build:native",
    )
    process.exit(1)
  }
  if (!Bun.which('cmake')) {
    console.error(
      'Airwave needs CMake to build its native addon (the opus crate builds libopus from source with it): ' +
        'install it (Debian/Ubuntu: apt-get install cmake; macOS: brew install cmake), then run bun run build:native',
    )
    process.exit(1)
  }
  console.log(`Building the native addon (${force ? 'forced' : 'sources changed'})…`)
  const library = await cargoBuild(cargo)
  // Copy beside the target and rename over it: a running server may have the old file mapped, and
  // overwriting a mapped shared library in place can crash it.
  const staging = `${addonPath}.${process.pid}.tmp`
  copyFileSync(library, staging)
  // Stamp it now: cargo may have reused an older library, and staleness compares against this file.
  const now = new Date()
  utimesSync(staging, now, now)
  renameSync(staging, addonPath)
  console.log(`Native addon ready: ${addonPath}`)
}

await main()
