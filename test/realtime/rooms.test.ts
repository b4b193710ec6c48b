import { describe, expect, test } from 'bun:test'
import { LocalRoomBroker, OutgoingMessage, type RoomMember } from '../../src/realtime/rooms.ts'

/** A member that records what it was handed; `accepts: false` plays a closed or too slow connection. */
function member(id: string, accepts = true) {
  const got: string[] = []
  const m: RoomMember = {
    id,
    deliver: (message) => {
      got.push(message.json)
      return accepts
    },
  }
  return { m, got }
}

describe('LocalRoomBroker', () => {
  test('publishes to the members of a room only and counts who took it', () => {
    const rooms = new LocalRoomBroker()
    const [a, b, c, gone] = [member('a'), member('b'), member('c'), member('gone', false)]
    rooms.join('user_1', a.m)
    rooms.join('user_1', b.m)
    rooms.join('user_1', gone.m)
    rooms.join('user_2', c.m)
    const message = new OutgoingMessage('trackPlaying', { at: 1 })
    expect(rooms.publish('user_1', message)).toBe(2)
    expect(a.got).toEqual(['{"event":"trackPlaying","data":{"at":1}}'])
    expect(b.got).toEqual(a.got)
    expect(c.got).toEqual([])
    expect(rooms.publish('nobody', message)).toBe(0)
  })

  test('leave and leaveAll take a member out; empty rooms are forgotten', () => {
    const rooms = new LocalRoomBroker()
    const [a, b] = [member('a'), member('b')]
    rooms.join('x', a.m)
    rooms.join('y', a.m)
    rooms.join('y', b.m)
    rooms.leave('y', b.m)
    expect(rooms.publish('y', new OutgoingMessage('e', null))).toBe(1)
    rooms.leaveAll(a.m)
    expect(rooms.size).toBe(0)
    expect(rooms.publish('x', new OutgoingMessage('e', null))).toBe(0)
    expect(b.got).toEqual([])
  })
})
