/**
 * Issue 14, radio: three instances behind nginx share each slot (one actor in the cluster), deliver the same events
 * with the same ids everywhere, replay Last-Event-ID on any instance, survive kill -9 of the slot's owner, and work
 * alone through a Redis outage.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import Redis from 'ioredis'
import { OggDemuxer } from '../../src/platform/native.ts'
import { b64, opusPackets, postChunk, SseClient, type SseMessage } from '../radio/support.ts'
import { skipClusterTests, startCluster, type TestCluster } from '../support/cluster.ts'
import { until } from '../support/until.ts'

const KEY = 'cluster-ingest-key'
const PACKETS = opusPackets(60)

/**
 * The radio events a listener got after it connected (not connected/keepalive, nor the start of a transmission already
 * in progress when it joined, which carries the connected id), as comparable text.
 */
function content(events: SseMessage[]): string[] {
  const joinedAt = Number(events.find((e) => e.event === 'connected')?.id)
  return events
    .filter((e) => ['transmission_start', 'audio_chunk', 'transmission_end'].includes(e.event))
    .filter((e) => Number(e.id) > joinedAt)
    .map((e) => `${e.id} ${e.event} ${e.data}`)
}

function chunk(slot: number, radio: number, sequence: number, extra: Record<string, unknown> = {}) {
  return {
    slot,
    radio_id: radio,
    talkgroup_id: 9,
    sequence,
    chunk_data: b64(PACKETS[sequence % PACKETS.length] as Uint8Array),
    ...extra,
  }
}

describe.skipIf(skipClusterTests('radio.cluster.test.ts'))('radio across three instances', () => {
  let cluster: TestCluster
  let redis: Redis
  const listeners: SseClient[] = []
  const listen = async (i: number, slot: number, headers: Record<string, string> = {}) => {
    const client = await SseClient.open(`${cluster.urls[i]}/api/v1/stream-listen?slot=${slot}`, headers)
    listeners.push(client)
    await client.waitFor((events) => events.some((e) => e.event === 'connected'))
    return client
  }
  /** The instance holding the slot's lease, by index. */
  const owner = async (slot: number) => {
    const value = await redis.get(`airwave:lease:radio:slot${slot}`)
    return cluster.ids.indexOf(value?.slice(0, value.lastIndexOf(':')) ?? '')
  }

  beforeAll(async () => {
    cluster = await startCluster({ env: { INGEST_API_KEYS: KEY } })
    redis = new Redis(cluster.redis.url)
    redis.on('error', () => {}) // the outage test stops Redis
  }, 120_000)
  afterAll(async () => {
    for (const l of listeners) l.close()
    redis?.disconnect()
    await cluster?.stop()
  })

  test('/api/v1/channels counts the listeners of every instance, on every instance', async () => {
    const counts = async (i: number) => {
      const res = await fetch(`${cluster.urls[i]}/api/v1/channels`)
      const body = (await res.json()) as {
        data: Array<{ slot?: number; system?: number; listeners: number }>
      }
      return body.data
    }
    const everywhere = (expected: (data: Awaited<ReturnType<typeof counts>>) => boolean) =>
      until(
        () => Promise.all([0, 1, 2].map(counts)),
        (all) => all.every(expected),
      )
    const onSlot2 = [await listen(0, 2), await listen(0, 2), await listen(1, 2)]
    const scanner = await SseClient.open(`${cluster.urls[2]}/api/v1/stream-listen?system=7`)
    listeners.push(scanner)
    await scanner.waitFor((events) => events.some((e) => e.event === 'connected'))
    const all = await everywhere(
      (data) =>
        data.find((c) => c.slot === 2)?.listeners === 3 && data.find((c) => c.system === 7)?.listeners === 1,
    )
    // The single node's shape and order: both slots, then the systems.
    expect(all[0]?.slice(0, 2).map((c) => c.slot)).toEqual([1, 2])
    onSlot2[0]?.close()
    scanner.close()
    await everywhere(
      (data) =>
        data.find((c) => c.slot === 2)?.listeners === 2 &&
        (data.find((c) => c.system === 7)?.listeners ?? 0) === 0,
    )
  })

  test('chunks POSTed round-robin form one transmission; every instance delivers the same events with the same ids', async () => {
    await until(
      () => owner(1),
      (i) => i >= 0,
    )
    const heard = await Promise.all([0, 1, 2].map((i) => listen(i, 1)))
    for (let s = 0; s < 20; s++) {
      const res = await postChunk(cluster.url, chunk(1, 501, s, { save_recording: true }), KEY)
      expect(res.status).toBe(200)
      expect(res.json.data).toMatchObject({ received: true, slot: 1, sequence: s })
    }
    // Another radio on the slot ends the first transmission at once (no 5 s silence to wait for).
    expect((await postChunk(cluster.url, chunk(1, 502, 0), KEY)).status).toBe(200)
    for (const l of heard) {
      await l.waitFor((events) => content(events).length === 20 + 4)
    }
    const [first, ...others] = heard.map((l) => content(l.events))
    for (const other of others) expect(other).toEqual(first as string[])
    const events = heard[0]?.events.filter((e) => e.event !== 'connected' && e.event !== 'keepalive') ?? []
    expect(events.map((e) => e.event)).toEqual([
      'transmission_start',
      ...Array(20).fill('audio_chunk'),
      'transmission_end',
      'transmission_start',
      'audio_chunk',
    ])
    const ids = events.map((e) => Number(e.id))
    expect(ids).toEqual(ids.map((_, n) => (ids[0] as number) + n))
    expect(events.filter((e) => e.event === 'audio_chunk').map((e) => JSON.parse(e.data).sequence)).toEqual([
      ...[...Array(20).keys()],
      0,
    ])
    const transmissionId = JSON.parse(events[0]?.data ?? '{}').transmission_id as string
    // One history row and one recording for the transmission, whichever instances took its chunks.
    const rows = await until(
      () =>
        cluster.sql`select transmission_id, chunk_count, recording_key from radio_transmissions where transmission_id = ${transmissionId}`,
      (r) => r.length > 0,
    )
    expect(rows).toHaveLength(1)
    expect(rows[0]).toMatchObject({ chunk_count: 20 })
    const recording = await fetch(`${cluster.url}/api/v1/transmissions/${transmissionId}/recording`)
    expect(recording.status).toBe(200)
    const { packets } = new OggDemuxer().push(new Uint8Array(await recording.arrayBuffer()))
    // OpusHead and OpusTags, then the 20 chunks, whichever instances took them.
    expect(packets.length - 2).toBe(20)
  })

  test('Last-Event-ID against another instance replays exactly what was missed', async () => {
    const a = await listen(0, 2)
    for (let s = 0; s < 5; s++) expect((await postChunk(cluster.url, chunk(2, 601, s), KEY)).status).toBe(200)
    await a.waitFor((events) => content(events).length === 6)
    const resumeAt = a.lastId as string
    a.close()
    for (let s = 5; s < 12; s++)
      expect((await postChunk(cluster.url, chunk(2, 601, s), KEY)).status).toBe(200)
    const reference = await listen(2, 2)
    await until(
      () => owner(2),
      (i) => i >= 0,
    )
    const b = await listen(1, 2, { 'last-event-id': resumeAt })
    await b.waitFor((events) => events.filter((e) => e.event === 'audio_chunk').length === 7)
    const replayed = b.events.filter((e) => e.event === 'audio_chunk')
    expect(replayed.map((e) => JSON.parse(e.data).sequence)).toEqual([5, 6, 7, 8, 9, 10, 11])
    expect(Number(replayed[0]?.id)).toBe(Number(resumeAt) + 1)
    reference.close()
  })

  test('kill -9 of the slot owner mid-transmission: another instance takes over within 2 s; survivors hear every chunk once, in order', async () => {
    const dead = await until(
      () => owner(1),
      (i) => i >= 0,
    )
    const survivors = [0, 1, 2].filter((i) => i !== dead)
    const heard = await Promise.all(survivors.map((i) => listen(i, 1)))
    let sequence = 0
    const send = async (i: number) => {
      const res = await postChunk(
        cluster.urls[i] as string,
        chunk(1, 701, sequence, { save_recording: true }),
        KEY,
      )
      expect(res.status).toBe(200)
      sequence++
    }
    for (let n = 0; n < 10; n++) await send(survivors[n % 2] as number)
    await cluster.kill(dead)
    const killedAt = Date.now()
    try {
      // Chunks keep coming through the survivors while nobody owns the slot; each is answered 200.
      for (let n = 0; n < 10; n++) {
        await send(survivors[n % 2] as number)
        await Bun.sleep(50)
      }
      const successor = await until(
        () => owner(1),
        (i) => i >= 0 && i !== dead,
        5000,
      )
      const failoverMs = Date.now() - killedAt
      expect(survivors).toContain(successor)
      expect(failoverMs).toBeLessThanOrEqual(2000 + 600)
      for (let n = 0; n < 10; n++) await send(survivors[n % 2] as number)
      for (const l of heard) {
        await l.waitFor((events) => events.filter((e) => e.event === 'audio_chunk').length === 30)
      }
      for (const l of heard) {
        const chunks = l.events.filter((e) => e.event === 'audio_chunk').map((e) => JSON.parse(e.data))
        expect(chunks.map((c) => c.sequence)).toEqual([...Array(30).keys()])
        // One transmission across the failover.
        expect(new Set(chunks.map((c) => c.transmission_id)).size).toBe(1)
        const starts = l.events.filter((e) => e.event === 'transmission_start').map((e) => JSON.parse(e.data))
        expect(starts.filter((s) => s.radio_id === 701)).toHaveLength(1)
      }
      expect(content(heard[0]?.events ?? [])).toEqual(content(heard[1]?.events ?? []))
      // The successor finishes the transmission's one history row and recording, with the chunks from before too.
      const survivor = cluster.urls[successor] as string
      expect((await postChunk(survivor, chunk(1, 702, 0), KEY)).status).toBe(200)
      const transmissionId = JSON.parse(heard[0]?.events.find((e) => e.event === 'audio_chunk')?.data ?? '{}')
        .transmission_id as string
      const rows = await until(
        () =>
          cluster.sql`select chunk_count, recording_key from radio_transmissions where transmission_id = ${transmissionId}`,
        (r) => r.length > 0,
      )
      expect(rows).toHaveLength(1)
      expect(rows[0]?.chunk_count).toBe(30)
      const recording = await fetch(`${survivor}/api/v1/transmissions/${transmissionId}/recording`)
      expect(recording.status).toBe(200)
      const { packets } = new OggDemuxer().push(new Uint8Array(await recording.arrayBuffer()))
      // OpusHead and OpusTags, then every chunk: those the dead owner took and those its successor took.
      expect(packets.length - 2).toBe(30)
    } finally {
      await cluster.restart(dead)
    }
  }, 60_000)

  test('a Redis outage: each instance carries on alone and says so in /health; when Redis is back the cluster recovers by itself', async () => {
    await cluster.redis.kill()
    const alone = await listen(0, 2)
    const degraded = await until(
      () => cluster.health(0),
      (h) => h.cluster.status === 'degraded',
    )
    expect(degraded.status).toBe('ok')
    expect(degraded.cluster.redis).toBe('unreachable')
    for (let s = 0; s < 3; s++) {
      expect((await postChunk(cluster.urls[0] as string, chunk(2, 801, s), KEY)).status).toBe(200)
    }
    await alone.waitFor((events) => events.filter((e) => e.event === 'audio_chunk').length === 3)
    await cluster.redis.restart()
    for (let i = 0; i < cluster.size; i++) {
      await until(
        () => cluster.health(i),
        (h) => h.cluster.status === 'ok' && h.cluster.instances.length === cluster.size,
        20_000,
      )
    }
    await until(
      () => owner(1),
      (i) => i >= 0,
      10_000,
    )
    const heard = await Promise.all([0, 1, 2].map((i) => listen(i, 1)))
    for (let s = 0; s < 5; s++) expect((await postChunk(cluster.url, chunk(1, 901, s), KEY)).status).toBe(200)
    for (const l of heard)
      await l.waitFor((events) => events.filter((e) => e.event === 'audio_chunk').length === 5)
    const [first, ...others] = heard.map((l) => content(l.events))
    for (const other of others) expect(other).toEqual(first as string[])
  }, 60_000)
})
