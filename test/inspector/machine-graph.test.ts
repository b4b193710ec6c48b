import { describe, expect, test } from 'bun:test'
import { fromPromise, setup } from 'xstate'
import { formatStateValue, machineGraph } from '../../src/inspector/machine-graph.ts'

const machine = setup({}).createMachine({
  id: 'stream',
  initial: 'starting',
  states: {
    starting: { on: { started: 'live', failed: 'failed' } },
    live: {
      initial: 'healthy',
      states: { healthy: { on: { stall: 'restarting' } }, restarting: { on: { ok: 'healthy' } } },
      on: { end: 'ending', ping: {} },
    },
    ending: { always: 'ended' },
    ended: { type: 'final' },
    failed: { type: 'final' },
  },
})

describe('machineGraph', () => {
  test('lists nested states with parents, initial flags and types', () => {
    const graph = machineGraph(machine)
    expect(graph?.id).toBe('stream')
    expect(graph?.states).toEqual([
      { path: 'starting', parent: null, type: 'atomic', initial: true },
      { path: 'live', parent: null, type: 'compound', initial: false },
      { path: 'live.healthy', parent: 'live', type: 'atomic', initial: true },
      { path: 'live.restarting', parent: 'live', type: 'atomic', initial: false },
      { path: 'ending', parent: null, type: 'atomic', initial: false },
      { path: 'ended', parent: null, type: 'final', initial: false },
      { path: 'failed', parent: null, type: 'final', initial: false },
    ])
  })

  test('lists every transition, targetless ones as self loops, eventless ones as always', () => {
    const transitions = machineGraph(machine)?.transitions
    expect(transitions).toContainEqual({ source: 'starting', event: 'started', targets: ['live'] })
    expect(transitions).toContainEqual({ source: 'live', event: 'end', targets: ['ending'] })
    expect(transitions).toContainEqual({ source: 'live', event: 'ping', targets: [] })
    expect(transitions).toContainEqual({
      source: 'live.healthy',
      event: 'stall',
      targets: ['live.restarting'],
    })
    expect(transitions).toContainEqual({ source: 'ending', event: 'always', targets: ['ended'] })
  })

  test('other actor logic has no graph', () => {
    expect(machineGraph(fromPromise(async () => 1))).toBeNull()
  })

  test('formatStateValue', () => {
    expect(formatStateValue('idle')).toBe('idle')
    expect(formatStateValue({ live: 'healthy' })).toBe('live.healthy')
    expect(formatStateValue({ a: { b: 'c' }, d: 'e' })).toBe('a.b.c, d.e')
  })
})
