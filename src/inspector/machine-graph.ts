import type { AnyActorLogic, AnyStateMachine } from 'xstate'

/** One state of a machine, for drawing: nested states keep their dotted path (`live.healthy`). */
export interface GraphState {
  path: string
  parent: string | null
  type: 'atomic' | 'compound' | 'parallel' | 'final' | 'history'
  initial: boolean
}

export interface GraphTransition {
  source: string
  event: string
  targets: string[]
}

export interface MachineGraph {
  id: string
  states: GraphState[]
  transitions: GraphTransition[]
}

interface NodeLike {
  key: string
  type: GraphState['type']
  path: string[]
  initial?: { target: ReadonlyArray<{ path: string[] }> }
  states: Record<string, NodeLike>
  transitions: Map<string, Array<{ eventType: string; target?: ReadonlyArray<{ path: string[] }> }>>
  always?: Array<{ eventType: string; target?: ReadonlyArray<{ path: string[] }> }>
}

function isMachine(logic: AnyActorLogic): logic is AnyStateMachine {
  return typeof logic === 'object' && logic !== null && 'root' in logic && 'definition' in logic
}

/** The states and transitions of a state machine's definition, or null for other kinds of actor logic. */
export function machineGraph(logic: AnyActorLogic): MachineGraph | null {
  if (!isMachine(logic)) return null
  const states: GraphState[] = []
  const transitions: GraphTransition[] = []
  const visit = (node: NodeLike, parent: NodeLike | null) => {
    const path = node.path.join('.')
    if (parent) {
      const initialTargets = parent.initial?.target.map((t) => t.path.join('.')) ?? []
      states.push({
        path,
        parent: parent.path.join('.') || null,
        type: node.type,
        initial: initialTargets.includes(path),
      })
    }
    for (const [event, list] of node.transitions) {
      for (const t of list) {
        transitions.push({ source: path, event, targets: t.target?.map((n) => n.path.join('.')) ?? [] })
      }
    }
    for (const t of node.always ?? []) {
      transitions.push({
        source: path,
        event: 'always',
        targets: t.target?.map((n) => n.path.join('.')) ?? [],
      })
    }
    for (const child of Object.values(node.states)) visit(child, node)
  }
  visit(logic.root as unknown as NodeLike, null)
  return { id: logic.id, states, transitions }
}

/** `receiving`, `live.healthy`, or `a.b, c.d` for parallel states. */
export function formatStateValue(value: unknown): string {
  if (typeof value === 'string') return value
  if (value === null || typeof value !== 'object') return String(value)
  return Object.entries(value as Record<string, unknown>)
    .map(([k, v]) => {
      const inner = formatStateValue(v)
      return inner === '' || (typeof v === 'object' && v !== null && Object.keys(v).length === 0)
        ? k
        : `${k}.${inner}`
    })
    .join(', ')
}
