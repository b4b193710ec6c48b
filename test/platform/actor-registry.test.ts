import { afterEach, describe, expect, test } from 'bun:test'
import { assign, type InspectionEvent, setup } from 'xstate'
import { ActorRegistry, UnknownActorKindError } from '../../src/platform/actors/registry.ts'

const counter = setup({
  types: {
    context: {} as { count: number; persisted: number },
    events: {} as { type: 'inc' } | { type: 'finish' },
  },
}).createMachine({
  context: { count: 0, persisted: 0 },
  initial: 'counting',
  states: {
    counting: {
      on: {
        inc: { actions: assign({ count: ({ context }) => context.count + 1 }) },
        finish: 'done',
      },
    },
    done: { type: 'final' },
  },
})

let registry: ActorRegistry
afterEach(() => registry.shutdown(100))

describe('ActorRegistry', () => {
  test('getOrSpawn creates one actor per (kind, key) and finds it again', () => {
    registry = new ActorRegistry()
    registry.define('counter', counter)
    const a = registry.getOrSpawn<typeof counter>('counter', '1')
    a.send({ type: 'inc' })
    expect(registry.getOrSpawn<typeof counter>('counter', '1')).toBe(a)
    expect(registry.get<typeof counter>('counter', '1')?.getSnapshot().context.count).toBe(1)
    registry.getOrSpawn('counter', '2')
    expect(registry.list('counter').map((e) => e.key)).toEqual(['1', '2'])
    expect(registry.list().every((e) => e.kind === 'counter')).toBe(true)
  })

  test('unknown kinds and duplicate definitions are refused', () => {
    registry = new ActorRegistry()
    registry.define('counter', counter)
    expect(() => registry.define('counter', counter)).toThrow('already defined')
    expect(() => registry.getOrSpawn('nope', '1')).toThrow(UnknownActorKindError)
  })

  test('stop removes an actor; a finished actor is removed by itself', () => {
    registry = new ActorRegistry()
    registry.define('counter', counter)
    registry.getOrSpawn('counter', 'a')
    registry.stop('counter', 'a')
    expect(registry.get('counter', 'a')).toBeUndefined()
    const b = registry.getOrSpawn('counter', 'b')
    b.send({ type: 'finish' })
    expect(registry.get('counter', 'b')).toBeUndefined()
    expect(registry.list()).toHaveLength(0)
  })

  test('list(kind) lists only that kind; actors that are stopped, finish or fail leave it, and may come back', () => {
    registry = new ActorRegistry()
    registry.define('counter', counter)
    const failing = setup({ types: { events: {} as { type: 'boom' } } }).createMachine({
      on: {
        boom: {
          actions: () => {
            throw new Error('boom')
          },
        },
      },
    })
    registry.define('failing', failing)
    for (const key of ['a', 'b', 'c']) registry.getOrSpawn('counter', key)
    const f = registry.getOrSpawn<typeof failing>('failing', 'x')
    expect(registry.list('counter').map((e) => e.id)).toEqual(['counter:a', 'counter:b', 'counter:c'])
    expect(registry.list('failing').map((e) => [e.kind, e.key])).toEqual([['failing', 'x']])
    registry.stop('counter', 'a')
    registry.get<typeof counter>('counter', 'b')?.send({ type: 'finish' })
    f.send({ type: 'boom' })
    expect(registry.list().map((e) => e.id)).toEqual(['counter:c'])
    // The index forgets them too, so it stays bounded by the live actors however many come and go.
    const index = (registry as unknown as { idsByKind: Map<string, Set<string>> }).idsByKind
    expect([...(index.get('counter') ?? [])]).toEqual(['counter:c'])
    expect(index.get('failing')?.size).toBe(0)
    registry.getOrSpawn('counter', 'a')
    expect(registry.list('counter').map((e) => e.key)).toEqual(['c', 'a'])
    expect(registry.list('nope')).toEqual([])
  })

  test('the inspection hook sees every actor and event', () => {
    registry = new ActorRegistry()
    registry.define('counter', counter)
    const seen: InspectionEvent[] = []
    const off = registry.onInspect((e) => seen.push(e))
    const a = registry.getOrSpawn('counter', 'x')
    a.send({ type: 'inc' })
    off()
    a.send({ type: 'inc' })
    const events = seen
      .filter((e) => e.type === '@xstate.event' && e.actorRef === a)
      .map((e) => (e as { event: { type: string } }).event.type)
    expect(events).toContain('inc')
    expect(events.filter((t) => t === 'inc')).toHaveLength(1)
    expect(seen.some((e) => e.type === '@xstate.actor' && e.actorRef === a)).toBe(true)
  })

  test('shutdown lets each kind persist before stopping everything', async () => {
    registry = new ActorRegistry()
    const persisted: string[] = []
    registry.define('counter', counter, {
      onShutdown: async (actor) => {
        await Bun.sleep(5)
        persisted.push(`${actor.id}=${actor.getSnapshot().context.count}`)
      },
    })
    registry.getOrSpawn<typeof counter>('counter', 'p').send({ type: 'inc' })
    await registry.shutdown()
    expect(persisted).toEqual(['counter:p=1'])
  })
})
