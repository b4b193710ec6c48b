import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { assign, fromCallback, setup } from 'xstate'
import { InspectionFeed } from '../../src/inspector/inspection-feed.ts'
import { ActorRegistry } from '../../src/platform/actors/registry.ts'
import { type InProcessApp, startInProcessApp } from '../support/app.ts'
import { openStalledClient } from '../support/stalled-client.ts'

/** Shaped like a radio slot: idle → receiving (chunks) → ended, with a child that ticks. */
const demo = setup({
  types: {
    context: {} as { chunks: number; token?: string },
    events: {} as { type: 'chunk'; data: Uint8Array; token?: string } | { type: 'end' } | { type: 'tick' },
  },
  actors: { ticker: fromCallback(() => () => {}) },
}).createMachine({
  id: 'demo',
  context: { chunks: 0 },
  initial: 'idle',
  states: {
    idle: {
      on: {
        chunk: { target: 'receiving', actions: assign({ chunks: 1, token: ({ event }) => event.token }) },
      },
    },
    receiving: {
      invoke: { src: 'ticker', id: 'ticker' },
      on: {
        chunk: { actions: assign({ chunks: ({ context }) => context.chunks + 1 }) },
        end: 'ended',
        tick: {},
      },
    },
    ended: { type: 'final' },
  },
})

describe('InspectionFeed', () => {
  test('tracks actors, children, events with source and state after, and ended actors', () => {
    const registry = new ActorRegistry()
    const feed = new InspectionFeed(registry)
    registry.define('demo', demo)
    const actor = registry.getOrSpawn<typeof demo>('demo', '1')
    actor.send({ type: 'chunk', data: new Uint8Array(200) })
    actor.send({ type: 'chunk', data: new Uint8Array(200) })
    const list = feed.list()
    expect(list.map((a) => [a.id, a.kind, a.state, a.parent])).toEqual([
      ['demo:1', 'demo', 'receiving', null],
      ['demo:1/ticker', 'demo.ticker', '', 'demo:1'],
    ])
    const detail = feed.get('demo:1')
    expect(detail?.eventCount).toBe(3)
    expect(detail?.events.map((e) => [e.type, e.source, e.stateAfter])).toEqual([
      ['xstate.init', 'system', 'idle'],
      ['chunk', 'external', 'receiving'],
      ['chunk', 'external', 'receiving'],
    ])
    expect(detail?.events[1]?.data).toEqual({ type: 'chunk', data: { $binary: 200 } })
    expect(detail?.context).toEqual({ chunks: 2 })
    expect(detail?.machine?.states.map((s) => s.path)).toEqual(['idle', 'receiving', 'ended'])
    actor.send({ type: 'end' })
    const ended = feed.list('demo').find((a) => a.id === 'demo:1')
    expect(ended).toMatchObject({ state: 'ended', status: 'done' })
    expect(ended?.endedAt).not.toBeNull()
    expect(registry.get('demo', '1')).toBeUndefined()
    feed.stop()
  })

  test('timelines keep the last N events; a full queue drops and counts instead of growing', () => {
    const registry = new ActorRegistry()
    const feed = new InspectionFeed(registry, {
      maxQueue: 50,
      eventsPerActor: 5,
      endedRetentionMs: 60_000,
      maxEnded: 10,
      flushIntervalMs: 10_000,
    })
    registry.define('demo', demo)
    const actor = registry.getOrSpawn<typeof demo>('demo', 'q')
    for (let i = 0; i < 100; i++) actor.send({ type: 'tick' })
    const detail = feed.get('demo:q')
    // The queue held 50 inspection records: the actor, its child, and then events and snapshots.
    expect(detail?.eventCount).toBeLessThan(50)
    expect(detail?.events).toHaveLength(5)
    feed.stop()
  })
})

describe('inspector HTTP and SSE', () => {
  let app: InProcessApp
  let admin: string
  beforeAll(async () => {
    app = await startInProcessApp()
    app.services.registry.define('demo', demo)
    admin = await app.token('ops', { role: 'admin' })
  })
  afterAll(() => app.close())

  const get = (path: string, token = admin) =>
    fetch(`${app.url}${path}`, { headers: { authorization: `Bearer ${token}` } })

  test('admin only: no token → 401, a non-admin token → 403', async () => {
    expect((await fetch(`${app.url}/api/v1/inspector/actors`)).status).toBe(401)
    const user = await app.token('alice')
    for (const path of [
      '/api/v1/inspector/actors',
      '/api/v1/inspector/actors/demo:1',
      '/api/v1/inspector/events',
    ]) {
      expect((await get(path, user)).status).toBe(403)
    }
  })

  test('the actors endpoint lists live actors with the contract fields; detail adds events and the statechart', async () => {
    const actor = app.services.registry.getOrSpawn<typeof demo>('demo', 'http')
    actor.send({ type: 'chunk', data: new Uint8Array(10) })
    const body = (await (await get('/api/v1/inspector/actors?kind=demo')).json()) as {
      actors: Array<Record<string, unknown>>
    }
    const entry = body.actors.find((a) => a.id === 'demo:http')
    expect(entry).toMatchObject({
      id: 'demo:http',
      kind: 'demo',
      state: 'receiving',
      parent: null,
      status: 'active',
      endedAt: null,
      eventCount: 2,
      context: { chunks: 1 },
    })
    expect(typeof entry?.startedAt).toBe('string')
    expect(typeof entry?.lastEventAt).toBe('string')
    const detail = (await (await get('/api/v1/inspector/actors/demo:http')).json()) as Record<string, unknown>
    expect(detail).toMatchObject({
      id: 'demo:http',
      events: [
        { type: 'xstate.init', stateAfter: 'idle' },
        { type: 'chunk', stateAfter: 'receiving' },
      ],
    })
    expect((detail.machine as { states: unknown[] }).states).toHaveLength(3)
    const child = await get('/api/v1/inspector/actors/demo%3Ahttp/ticker')
    expect(child.status).toBe(200)
    expect(await child.json()).toMatchObject({
      id: 'demo:http/ticker',
      kind: 'demo.ticker',
      parent: 'demo:http',
    })
    expect((await get('/api/v1/inspector/actors/%E0%A4%A')).status).toBe(400)
    expect((await get('/api/v1/inspector/actors/nope:1')).status).toBe(404)
    actor.send({ type: 'end' })
  })

  test('the SSE feed delivers an actor’s events in order, with tokens redacted', async () => {
    const res = await fetch(`${app.url}/api/v1/inspector/events?kind=demo&token=${admin}`)
    expect(res.status).toBe(200)
    const reader = res.body?.getReader()
    const decoder = new TextDecoder()
    let text = ''
    const readUntil = async (needle: string) => {
      while (!text.includes(needle)) {
        const chunk = await reader?.read()
        if (!chunk || chunk.done) break
        text += decoder.decode(chunk.value)
      }
    }
    await readUntil('event: actors')
    const secret = await app.token('victim')
    const actor = app.services.registry.getOrSpawn<typeof demo>('demo', 'sse')
    actor.send({ type: 'chunk', data: new Uint8Array(3), token: secret })
    actor.send({ type: 'chunk', data: new Uint8Array(3) })
    actor.send({ type: 'end' })
    await readUntil('"type":"actor.ended","actorId":"demo:sse"')
    await reader?.cancel()
    expect(text).not.toContain(secret)
    const messages = text
      .split('\n\n')
      .filter((block) => block.includes('event: inspection'))
      .map((block) => JSON.parse(block.split('\ndata: ')[1] ?? '{}'))
      .filter((m) => (m.actorId ?? m.actor?.id) === 'demo:sse')
    const sequence = messages.map((m) =>
      m.type === 'event' ? `event:${m.event.type}` : m.type === 'snapshot' ? `state:${m.state}` : m.type,
    )
    expect(sequence).toEqual([
      'actor.started',
      'event:xstate.init',
      'state:idle',
      'event:chunk',
      'state:receiving',
      'event:chunk',
      'state:receiving',
      'event:end',
      'state:ended',
      'actor.ended',
    ])
    const ids = text.match(/^id: (\d+)$/gm)?.map((l) => Number(l.slice(4))) ?? []
    expect(ids.length).toBeGreaterThan(0)
    expect([...ids].sort((a, b) => a - b)).toEqual(ids)
  })

  test('/metrics has per-kind actor counts and transition rates, SSE streams, FFmpeg processes and drops', async () => {
    const actor = app.services.registry.getOrSpawn<typeof demo>('demo', 'metrics')
    for (let i = 0; i < 5; i++) actor.send({ type: 'tick' })
    // Transition rates are sampled once a second.
    await Bun.sleep(1100)
    const text = await (await fetch(`${app.url}/metrics`)).text()
    expect(text).toMatch(/^airwave_actors\{kind="demo"\} [1-9]\d*$/m)
    expect(text).toMatch(/^airwave_actor_transitions_total\{kind="demo"\} [1-9]\d*$/m)
    expect(text).toContain('# TYPE airwave_actor_transitions_per_second gauge')
    expect(text).toContain('# TYPE airwave_sse_streams gauge')
    expect(text).toContain('# TYPE airwave_sse_slow_clients_disconnected_total counter')
    expect(text).toContain('# TYPE airwave_ws_connections gauge')
    expect(text).toContain('# TYPE airwave_ffmpeg_processes gauge')
    expect(text).toContain('# TYPE airwave_inspector_dropped_events_total counter')
    expect(text).toContain('# TYPE airwave_nodejs_eventloop_lag_seconds gauge')
    actor.send({ type: 'end' })
  })

  test('a stalled inspector client is cut off and the actors never wait for it', async () => {
    while (app.services.sse.size > 0) await Bun.sleep(10)
    const stalled = openStalledClient(
      Number(new URL(app.url).port),
      `/api/v1/inspector/events?token=${admin}`,
    )
    const deadline = Date.now() + 30_000
    while (app.services.sse.size === 0 && Date.now() < deadline) await Bun.sleep(10)
    expect(app.services.sse.size).toBe(1)
    const actor = app.services.registry.getOrSpawn<typeof demo>('demo', 'flood')
    actor.send({ type: 'chunk', data: new Uint8Array(1) })
    let sent = 0
    while (app.services.sse.size > 0 && Date.now() < deadline) {
      for (let i = 0; i < 500; i++) actor.send({ type: 'chunk', data: new Uint8Array(1) })
      sent += 500
      await Bun.sleep(5)
    }
    expect(app.services.sse.size).toBe(0)
    // Every send was handled at once: the actor's own count never waited for the stalled client.
    expect(actor.getSnapshot().context.chunks).toBe(sent + 1)
    expect(actor.getSnapshot().status).toBe('active')
    stalled.close()
  })
})
