import {
  type ActorRefFrom,
  type AnyActorLogic,
  type AnyActorRef,
  createActor,
  enqueueActions,
  type InspectionEvent,
  setup,
  stopChild,
} from 'xstate'
import { log } from '../log.ts'

export type InspectionListener = (event: InspectionEvent) => void

interface KindDefinition {
  logic: AnyActorLogic
  /** Lets the actor persist what it owns before the server stops it. */
  onShutdown?: (actor: AnyActorRef) => Promise<void>
}

type RootEvent =
  | { type: 'registry.spawn'; id: string; logic: AnyActorLogic; input: unknown }
  | { type: 'registry.stop'; id: string }
  | { type: `xstate.done.actor.${string}`; actorId: string }
  | { type: `xstate.error.actor.${string}`; actorId: string; error: unknown }

/**
 * The root of the one actor system: it owns every feature actor as a child and removes them when they finish.
 * `forget` (provided by the registry) drops a removed actor from the registry's index.
 */
const rootMachine = setup({
  types: { events: {} as RootEvent },
  actions: { forget: (_, _params: { id: string }) => {} },
}).createMachine({
  id: 'airwave',
  on: {
    'registry.spawn': {
      actions: enqueueActions(({ event, enqueue }) => {
        // The root declares no actor types: kinds are registered at runtime, so the options are untyped here.
        enqueue.spawnChild(event.logic, { id: event.id, systemId: event.id, input: event.input } as never)
      }),
    },
    'registry.stop': {
      actions: [
        stopChild(({ event }) => event.id),
        { type: 'forget', params: ({ event }) => ({ id: event.id }) },
      ],
    },
    'xstate.done.actor.*': {
      actions: [
        stopChild(({ event }) => event.actorId),
        { type: 'forget', params: ({ event }) => ({ id: event.actorId }) },
      ],
    },
    'xstate.error.actor.*': {
      actions: [
        ({ event }) => log.error({ actor: event.actorId, err: event.error }, 'actor failed'),
        stopChild(({ event }) => event.actorId),
        { type: 'forget', params: ({ event }) => ({ id: event.actorId }) },
      ],
    },
  },
})

export class UnknownActorKindError extends Error {
  override name = 'UnknownActorKindError'
}

/**
 * Creates, finds and stops every long-lived actor, by kind and key. Features define their kinds
 * once at startup and never call `createActor` themselves, so one inspection hook sees them all.
 */
export class ActorRegistry {
  private readonly kinds = new Map<string, KindDefinition>()
  /** The ids of each kind's live actors, so listing one kind never walks the others (thousands of sessions). */
  private readonly idsByKind = new Map<string, Set<string>>()
  private readonly inspectionListeners = new Set<InspectionListener>()
  private readonly root: ActorRefFrom<typeof rootMachine>

  constructor() {
    const forget = (id: string) => this.idsByKind.get(id.slice(0, id.indexOf(':')))?.delete(id)
    this.root = createActor(rootMachine.provide({ actions: { forget: (_, { id }) => forget(id) } }), {
      inspect: (event) => {
        for (const listener of this.inspectionListeners) listener(event)
      },
    })
    this.root.start()
  }

  static actorId(kind: string, key: string): string {
    return `${kind}:${key}`
  }

  define<TLogic extends AnyActorLogic>(
    kind: string,
    logic: TLogic,
    options: { onShutdown?: (actor: ActorRefFrom<TLogic>) => Promise<void> } = {},
  ): void {
    if (this.kinds.has(kind)) throw new Error(`actor kind "${kind}" is already defined`)
    this.kinds.set(kind, { logic, onShutdown: options.onShutdown as KindDefinition['onShutdown'] })
    this.idsByKind.set(kind, new Set())
  }

  /** The actor for (kind, key), created with `input` if it does not exist yet. */
  getOrSpawn<TLogic extends AnyActorLogic>(kind: string, key: string, input?: unknown): ActorRefFrom<TLogic> {
    const existing = this.get<TLogic>(kind, key)
    if (existing) return existing
    const definition = this.kinds.get(kind)
    if (!definition) throw new UnknownActorKindError(`no actor kind "${kind}" is defined`)
    const id = ActorRegistry.actorId(kind, key)
    this.root.send({ type: 'registry.spawn', id, logic: definition.logic, input })
    const spawned = this.get<TLogic>(kind, key)
    if (!spawned) throw new Error(`actor ${id} did not start`)
    this.idsByKind.get(kind)?.add(id)
    return spawned
  }

  get<TLogic extends AnyActorLogic>(kind: string, key: string): ActorRefFrom<TLogic> | undefined {
    return this.root.system.get(ActorRegistry.actorId(kind, key)) as ActorRefFrom<TLogic> | undefined
  }

  /** Every live actor of `kind` (or of every kind), keyed by its registry id. */
  list(kind?: string): Array<{ id: string; kind: string; key: string; actor: AnyActorRef }> {
    const out: Array<{ id: string; kind: string; key: string; actor: AnyActorRef }> = []
    for (const actorKind of kind === undefined ? this.idsByKind.keys() : [kind]) {
      for (const id of this.idsByKind.get(actorKind) ?? []) {
        const actor = this.root.system.get(id) as AnyActorRef | undefined
        if (actor) out.push({ id, kind: actorKind, key: id.slice(actorKind.length + 1), actor })
      }
    }
    return out
  }

  stop(kind: string, key: string): void {
    this.root.send({ type: 'registry.stop', id: ActorRegistry.actorId(kind, key) })
  }

  /** Observes every inspection event of every actor. Listeners run inside the actor loop: only enqueue. */
  onInspect(listener: InspectionListener): () => void {
    this.inspectionListeners.add(listener)
    return () => this.inspectionListeners.delete(listener)
  }

  /** Gives each actor its kind's chance to persist (bounded by `timeoutMs`), then stops the whole system. */
  async shutdown(timeoutMs = 5000): Promise<void> {
    const pending = this.list().map(async ({ id, kind, actor }) => {
      const onShutdown = this.kinds.get(kind)?.onShutdown
      if (!onShutdown) return
      try {
        await onShutdown(actor)
      } catch (err) {
        log.error({ actor: id, err }, 'actor failed to persist at shutdown')
      }
    })
    let timer: ReturnType<typeof setTimeout> | undefined
    await Promise.race([
      Promise.all(pending),
      new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          log.warn({ timeoutMs }, 'actors did not finish persisting before the shutdown timeout')
          resolve()
        }, timeoutMs)
      }),
    ])
    clearTimeout(timer)
    this.root.stop()
  }
}
