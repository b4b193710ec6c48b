import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { b64, opusPackets, postChunk, SseClient } from '../radio/support.ts'
import { type RunningServer, startServer } from '../support/server.ts'
import { openStalledClient } from '../support/stalled-client.ts'

/** The inspector watching a real radio slot: chunks ingested over HTTP drive `transmission:slot1`. */
describe('inspector on a real transmission', () => {
  let server: RunningServer
  let admin: string
  const packets = opusPackets(40)
  beforeAll(async () => {
    server = await startServer({ INGEST_API_KEYS: 'test-ingest-key', INGEST_RATE_LIMIT: '1000000' })
    admin = await server.token('ops', { role: 'admin' })
  }, 120_000)
  afterAll(() => server.stop())

  const ingest = (slot: number, sequence: number) =>
    postChunk(server.url, {
      slot,
      radio_id: 2222001,
      talkgroup_id: 9,
      sequence,
      chunk_data: b64(packets[sequence % packets.length] as Uint8Array),
    })
  const actors = async () =>
    (
      (await (
        await fetch(`${server.url}/api/v1/inspector/actors`, {
          headers: { authorization: `Bearer ${admin}` },
        })
      ).json()) as {
        actors: Array<{ id: string; kind: string; state: string; eventCount: number; context: unknown }>
      }
    ).actors

  test('a transmission is receiving while chunks arrive and ended 5 s after the last, and the feed shows it in order', async () => {
    const feed = await SseClient.open(
      `${server.url}/api/v1/inspector/events?kind=transmission&token=${admin}`,
    )
    await feed.waitFor((events) => events.some((e) => e.event === 'actors'))
    for (let sequence = 1; sequence <= 5; sequence++) expect((await ingest(1, sequence)).status).toBe(200)
    const live = (await actors()).find((a) => a.id === 'transmission:slot1')
    expect(live).toMatchObject({ kind: 'transmission', state: 'receiving' })
    expect(live?.eventCount).toBeGreaterThanOrEqual(5)

    await Bun.sleep(5500)
    expect((await actors()).find((a) => a.id === 'transmission:slot1')?.state).toBe('ended')

    await feed.waitFor((events) => events.some((e) => e.data.includes('"state":"ended"')))
    feed.close()
    const messages = feed
      .json('inspection')
      .filter(
        (m) =>
          m.actorId === 'transmission:slot1' ||
          (m.actor as { id?: string } | undefined)?.id === 'transmission:slot1',
      )
    const chunkEvents = messages.filter(
      (m) => m.type === 'event' && (m.event as { type: string }).type === 'chunk',
    )
    expect(chunkEvents.map((m) => (m.event as { data: { sequence: number } }).data.sequence)).toEqual([
      1, 2, 3, 4, 5,
    ])
    const states = messages.filter((m) => m.type === 'snapshot').map((m) => m.state)
    expect(states.at(-1)).toBe('ended')
    expect(states.indexOf('receiving')).toBeLessThan(states.lastIndexOf('ended'))
    const ids = feed.named('inspection').map((e) => Number(e.id))
    expect(ids).toEqual([...ids].sort((a, b) => a - b))
    // Audio never reaches the inspector: the chunk's base64 is not in the feed.
    const sent = b64(packets[1] as Uint8Array)
    expect(feed.events.some((e) => e.data.includes(sent))).toBe(false)
    expect(JSON.stringify(chunkEvents[0])).toContain('"$binary":')
  }, 60_000)

  test('the detail of the transmission has its statechart and timeline, without audio bytes or keys', async () => {
    await ingest(2, 1)
    const res = await fetch(`${server.url}/api/v1/inspector/actors/transmission:slot2`, {
      headers: { authorization: `Bearer ${admin}` },
    })
    const detail = (await res.json()) as {
      state: string
      machine: { states: Array<{ path: string }> }
      events: Array<{ type: string; stateAfter: string }>
    }
    expect(detail.state).toBe('receiving')
    expect(detail.machine.states.map((s) => s.path)).toEqual(['idle', 'receiving', 'ended'])
    expect(detail.events.at(-1)).toMatchObject({ type: 'chunk', stateAfter: 'receiving' })
    const text = JSON.stringify(detail)
    expect(text).not.toContain(b64(packets[1] as Uint8Array))
    expect(text).not.toContain('test-ingest-key')
  })

  test('a stalled inspector client is cut off while ingest goes on unaffected', async () => {
    const metric = async () => {
      const text = await (await fetch(`${server.url}/metrics`)).text()
      return Number(/^airwave_sse_slow_clients_disconnected_total (\d+)/m.exec(text)?.[1] ?? 0)
    }
    const before = await metric()
    const stalled = openStalledClient(server.port, `/api/v1/inspector/events?token=${admin}`)
    let sequence = 100
    let acknowledged = 0
    const deadline = Date.now() + 45_000
    while ((await metric()) === before && Date.now() < deadline) {
      const batch = await Promise.all(Array.from({ length: 16 }, () => ingest(1, sequence++)))
      acknowledged += batch.filter((r) => r.status === 200 && r.json.success === true).length
    }
    expect(await metric()).toBe(before + 1)
    expect(acknowledged).toBe(sequence - 100)
    stalled.close()
  }, 60_000)
})
