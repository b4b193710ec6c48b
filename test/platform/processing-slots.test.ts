import { describe, expect, test } from 'bun:test'
import { ProcessingSlots } from '../../src/platform/processing-slots.ts'

describe('ProcessingSlots', () => {
  test('grants up to its size at once and queues the rest in order', async () => {
    const slots = new ProcessingSlots(2)
    const granted: string[] = []
    const take = (id: string) => slots.acquire(id).then(() => granted.push(id))
    await Promise.all([take('a'), take('b')])
    void take('c')
    void take('d')
    await Bun.sleep(0)
    expect(granted).toEqual(['a', 'b'])
    expect([slots.inUse, slots.queued]).toEqual([2, 2])
    slots.release('a')
    await Bun.sleep(0)
    expect(granted).toEqual(['a', 'b', 'c'])
    slots.release('b')
    await Bun.sleep(0)
    expect(granted).toEqual(['a', 'b', 'c', 'd'])
    expect([slots.inUse, slots.queued]).toEqual([2, 0])
  })

  test('release is idempotent and ignores jobs without a slot', async () => {
    const slots = new ProcessingSlots(1)
    await slots.acquire('a')
    slots.release('a')
    slots.release('a')
    slots.release('never')
    expect(slots.inUse).toBe(0)
    await slots.acquire('a')
    await slots.acquire('a')
    expect(slots.inUse).toBe(1)
  })

  test('an aborted waiter leaves the queue and never takes a slot', async () => {
    const slots = new ProcessingSlots(1)
    await slots.acquire('a')
    const controller = new AbortController()
    const waiting = slots.acquire('b', controller.signal)
    controller.abort(new Error('job deleted'))
    await expect(waiting).rejects.toThrow('job deleted')
    expect(slots.queued).toBe(0)
    slots.release('a')
    expect(slots.inUse).toBe(0)
  })

  test('refuses a size below one', () => {
    expect(() => new ProcessingSlots(0)).toThrow(RangeError)
  })
})
