import { afterAll, expect, test } from 'bun:test'
import { readFileSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { inspectOpusPacket } from '../../src/platform/native.ts'
import { VoiceTranscoders } from '../../src/platform/voice-workers.ts'
import { callAudio } from '../calls/support.ts'
import { tempDir } from '../support/tmp.ts'

const OPTIONS = { bitrate: 16_000, complexity: 3, maxSeconds: 600, maxOutputBytes: 4 * 1024 * 1024 }
const transcoders = new VoiceTranscoders(2)
afterAll(() => transcoders.close())

test('a call is transcoded on a worker thread into 100 ms Opus packets', async () => {
  const voice = await transcoders.transcode(await callAudio('wav', 2), OPTIONS)
  if (!voice.ok) throw new Error(voice.message)
  expect(voice).toMatchObject({ codec: 'pcm', inputRate: 8000, decodedSeconds: 2 })
  expect(voice.packets.length).toBe(20)
  for (const packet of voice.packets) expect(inspectOpusPacket(packet).durationSamples).toBe(4800)
})

test('bytes the addon does not read come back as a refusal, not an error', async () => {
  expect(await transcoders.transcode(new Uint8Array(4096).fill(7), OPTIONS)).toMatchObject({
    ok: false,
    refusal: 'UNSUPPORTED_AUDIO',
  })
})

test('more jobs than workers wait their turn and all finish', async () => {
  const wav = await callAudio('wav', 1)
  const results = await Promise.all(
    Array.from({ length: 5 }, () => transcoders.transcode(wav.slice(), OPTIONS)),
  )
  expect(results.map((r) => r.ok && r.packets.length)).toEqual([10, 10, 10, 10, 10])
})

test("long transcodes do not hold up the server's node:fs work (they are not on Bun's thread pool)", async () => {
  const long = await callAudio('m4a', 120)
  const dir = tempDir('airwave-voice-workers-')
  try {
    const small = join(dir.path, 'small.bin')
    await Bun.write(small, new Uint8Array(1024))
    const order: string[] = []
    const jobs = [long.slice(), long.slice()].map((input) =>
      transcoders.transcode(input, OPTIONS).then(() => order.push('transcode')),
    )
    await Bun.sleep(20)
    await readFile(small).then(() => order.push('readFile'))
    await Promise.all(jobs)
    expect(order[0]).toBe('readFile')
  } finally {
    dir.remove()
  }
})

/** CPU seconds of this process's main thread. */
function mainThreadCpu(): number {
  const stat = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(fields[11]) + Number(fields[12])) / 100
}

test("the main thread idles while it waits for a worker (Bun spins for an unref'd one)", async () => {
  const long = await callAudio('m4a', 120)
  await transcoders.transcode(long.slice(), OPTIONS)
  const before = mainThreadCpu()
  const started = performance.now()
  await transcoders.transcode(long, OPTIONS)
  const waited = (performance.now() - started) / 1000
  expect(waited).toBeGreaterThan(0.1)
  expect(mainThreadCpu() - before).toBeLessThan(Math.max(0.05, waited / 4))
})

test('closing rejects what is still waiting and refuses new jobs', async () => {
  const closing = new VoiceTranscoders(1)
  const wav = await callAudio('wav', 1)
  const jobs = [closing.transcode(wav.slice(), OPTIONS), closing.transcode(wav.slice(), OPTIONS)]
  closing.close()
  for (const job of jobs) await expect(job).rejects.toThrow('closed')
  await expect(closing.transcode(wav, OPTIONS)).rejects.toThrow('closed')
})
