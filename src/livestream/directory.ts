/**
 * How livestreams cross instances (GUIDE principle 13): which instance runs a stream (its owner, by lease), what the
 * cluster knows about every live stream, control events from viewers on other instances, and the HLS playlist and
 * segments any instance serves. `LocalLivestreamDirectory` is a single node: this instance owns every stream it
 * starts and knows no other. `RedisLivestreamDirectory` (redis-directory.ts) is the cluster. The livestream service
 * never knows which it has.
 */
import type { LivestreamCarryOver } from '../../actors/livestream.machine.ts'
import type { HlsSegment } from './playlist.ts'

/** What `/status`, `/active` and `/health` show about a running stream. */
export interface StreamSummary {
  streamKey: string
  userId: string
  startedAt: string
  state: string
  viewers: number
  segmentCount: number
  hasFfmpegCommand: boolean
  hasInputStream: boolean
  broadcasterSocketId: string | null
  restarts: number
}

/** A live stream as the cluster knows it, written by its owner. */
export interface SharedStream {
  summary: StreamSummary
  /** The instance that runs it. */
  owner: string
  /** What a successor needs, but the WebM init segment (shared on its own: it is written once). */
  carryOver: Omit<LivestreamCarryOver, 'init'>
  /** Set when the owner hands the stream to the broadcaster's new instance: no other instance adopts it meanwhile. */
  handoverTo?: string
  /** Epoch ms until which `handoverTo` holds. */
  handoverUntil?: number
}

/** A stream taken over from an instance that stopped. */
export interface AdoptedStream extends SharedStream {
  init: Uint8Array | null
  /** When its instance stopped, as far as the successor can tell (epoch ms): its lease's expiry before it was taken. */
  ownerLostAt: number
}

/** Events a viewer or the owner's user on another instance sends to a stream's owner. */
export type RemoteControl =
  | { type: 'viewer.join'; viewer: string; socket: string }
  | { type: 'viewer.leave'; socket: string }
  | { type: 'viewer.hls'; session: string }
  | { type: 'stream.end'; reason: string; requester?: string }
  /** The broadcaster came back on instance `to`: a stream without a broadcaster is handed over to it. */
  | { type: 'handover'; to: string }

/** What a directory calls back into: this instance's livestream service. */
export interface LivestreamNode {
  /** This instance holds the lease of a stream whose owner stopped: run it from what the owner shared. */
  adopt(stream: AdoptedStream): void
  /** Another instance owns `streamKey` now: stop it here without announcing an end. */
  relinquish(streamKey: string): void
  /** A control event from another instance for a stream this instance runs. */
  control(streamKey: string, event: RemoteControl): void
  /** This instance holds the lease again after Redis was unreachable: share the stream's state, playlist and segments anew. */
  reshare(streamKey: string): void
}

export interface LivestreamDirectory {
  readonly instanceId: string
  /** Whether playlists and segments are shared: only the ones this instance wrote are on its disk otherwise. */
  readonly shared: boolean
  start(node: LivestreamNode): void
  /** Takes `streamKey` for this instance; false when another instance runs it. */
  claim(streamKey: string): Promise<boolean>
  /** The owner's latest view of a stream (written soon, coalesced, and kept fresh while it runs). */
  update(streamKey: string, stream: SharedStream): void
  shareInit(streamKey: string, init: Uint8Array): Promise<void>
  /** A finished segment (null: only the playlist changed, e.g. its ENDLIST), then the playlist that lists it. */
  shareSegment(
    streamKey: string,
    segment: HlsSegment | null,
    bytes: Uint8Array | null,
    playlist: string,
  ): Promise<void>
  /** The stream ended here: it is live nowhere now (its playlist and last segments stay for a while). */
  finish(streamKey: string): Promise<void>
  /** Gives `streamKey` up without ending it (it was handed over, or another instance owns it). */
  release(streamKey: string): Promise<void>
  /** Sends `event` to the owner on another instance; false when no other instance runs the stream. */
  send(streamKey: string, event: RemoteControl): Promise<boolean>
  /** Live streams of other instances (a single node, or Redis unreachable: none). */
  list(): Promise<SharedStream[]>
  find(streamKey: string): Promise<SharedStream | undefined>
  /** The shared playlist text, while the stream runs and for the retention after it. */
  playlist(streamKey: string): Promise<string | null>
  segment(streamKey: string, number: number): Promise<Uint8Array | null>
  close(): Promise<void>
}

/** A single node: every stream it starts is its own, and there is nobody else to tell. */
export class LocalLivestreamDirectory implements LivestreamDirectory {
  readonly shared = false

  constructor(readonly instanceId: string) {}

  start(_node: LivestreamNode): void {}
  async claim(_streamKey: string): Promise<boolean> {
    return true
  }
  update(_streamKey: string, _stream: SharedStream): void {}
  async shareInit(_streamKey: string, _init: Uint8Array): Promise<void> {}
  async shareSegment(): Promise<void> {}
  async finish(_streamKey: string): Promise<void> {}
  async release(_streamKey: string): Promise<void> {}
  async send(_streamKey: string, _event: RemoteControl): Promise<boolean> {
    return false
  }
  async list(): Promise<SharedStream[]> {
    return []
  }
  async find(_streamKey: string): Promise<SharedStream | undefined> {
    return undefined
  }
  async playlist(_streamKey: string): Promise<string | null> {
    return null
  }
  async segment(_streamKey: string, _number: number): Promise<Uint8Array | null> {
    return null
  }
  async close(): Promise<void> {}
}
