/**
 * Rooms: who hears an event. The dispatcher puts connections in rooms (`user_{userId}`, one per connection) and
 * publishes to them; it never knows whether members sit on this instance only or across a cluster. This is the
 * in-process implementation; the cluster one (Redis pub/sub, src/realtime/redis-rooms.ts) implements the same
 * interface and is chosen once, where the services are composed (src/app-services.ts).
 */

/** One event on its way out, encoded at most once per wire format however many members receive it. */
export class OutgoingMessage {
  private envelope: string | undefined

  constructor(
    readonly event: string,
    readonly data: unknown,
  ) {}

  /** A message received as its `/ws` envelope (from another instance): the envelope is sent on as it came. */
  static fromJson(json: string): OutgoingMessage {
    const { event, data } = JSON.parse(json) as { event: string; data: unknown }
    const message = new OutgoingMessage(event, data)
    message.envelope = json
    return message
  }

  /** The `/ws` text frame `{"event", "data"}`. */
  get json(): string {
    this.envelope ??= JSON.stringify({ event: this.event, data: this.data })
    return this.envelope
  }
}

/** A room member: a connection on some transport. */
export interface RoomMember {
  readonly id: string
  /** Hands the message to the client; false when it was dropped (closed, or too slow and disconnected). */
  deliver(message: OutgoingMessage): boolean
}

export interface RoomBroker {
  join(room: string, member: RoomMember): void
  leave(room: string, member: RoomMember): void
  /** Takes `member` out of every room it is in (it disconnected). */
  leaveAll(member: RoomMember): void
  /**
   * Delivers `message` to every member of `room`, wherever they are connected. Returns how many members on this
   * instance it was handed to now (a cluster broker that delivers through Redis hands it over later and counts 0).
   */
  publish(room: string, message: OutgoingMessage): number
}

/** Rooms of this process's connections: one instance, no cluster. */
export class LocalRoomBroker implements RoomBroker {
  private readonly members = new Map<string, Set<RoomMember>>()
  private readonly memberships = new Map<RoomMember, Set<string>>()

  join(room: string, member: RoomMember): void {
    const members = this.members.get(room)
    if (members) members.add(member)
    else this.members.set(room, new Set([member]))
    const rooms = this.memberships.get(member)
    if (rooms) rooms.add(room)
    else this.memberships.set(member, new Set([room]))
  }

  /** Returns whether the room is left empty (forgotten). */
  leave(room: string, member: RoomMember): boolean {
    const members = this.members.get(room)
    members?.delete(member)
    this.memberships.get(member)?.delete(room)
    if (members?.size !== 0) return false
    this.members.delete(room)
    return true
  }

  /** Returns the rooms left empty (forgotten). */
  leaveAll(member: RoomMember): string[] {
    const emptied: string[] = []
    for (const room of this.memberships.get(member) ?? []) {
      const members = this.members.get(room)
      members?.delete(member)
      if (members?.size === 0) {
        this.members.delete(room)
        emptied.push(room)
      }
    }
    this.memberships.delete(member)
    return emptied
  }

  /** Whether `room` has members here. */
  has(room: string): boolean {
    return this.members.has(room)
  }

  /** The rooms with members here. */
  rooms(): IterableIterator<string> {
    return this.members.keys()
  }

  publish(room: string, message: OutgoingMessage): number {
    const members = this.members.get(room)
    if (!members) return 0
    let delivered = 0
    for (const member of members) if (member.deliver(message)) delivered += 1
    return delivered
  }

  /** How many rooms have members (for tests and metrics). */
  get size(): number {
    return this.members.size
  }
}
