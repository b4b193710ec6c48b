/**
 * The radio in a cluster (issue 14), on Redis Streams:
 * - Ingest: whichever instance takes a chunk appends it to its slot's ingest stream (`airwave:radio:ingest:<slot>`)
 *   before answering 200, so the chunk survives that instance's death.
 * - Ownership: one instance holds each slot's lease (leases.ts) and alone runs the slot's actor, reading the ingest
 *   stream in order. What a chunk made (events, the actor's state, recording chunks, how far it has read) is written
 *   in one fenced script: all of it or none, and never by an instance that lost the lease. A successor reads the state
 *   and continues after the last chunk its predecessor finished: no chunk twice, none skipped.
 * - Fan-out and replay: events go to one bounded stream (`airwave:radio:events`) with per-channel ids given by the
 *   same script; every instance reads it, numbers nothing itself, and keeps its channels' replay rings from it (seeded
 *   from it at start), so `Last-Event-ID` works against any instance.
 * - Redis unreachable: the instance works alone (its own actor, its own ids) and rejoins by itself.
 */
import type { ChunkFormat } from '../../actors/transmission.machine.ts'
import type { Lease, Leases } from '../cluster/leases.ts'
import { REDIS_RECONNECT_MS, type RedisLink } from '../cluster/redis-link.ts'
import { log } from '../platform/log.ts'
import type { IngestOutcome, QueuedChunk, RadioBus, RadioNode, SlotCommit } from './bus.ts'
import type { ChannelScope } from './channel.ts'
import type { RadioEvent, RadioEventName } from './events.ts'
import { preciseNow, sequenceOf, traceHop, tracingHops } from './hop-trace.ts'
import { SLOTS } from './model.ts'

/** Ingest entries kept per slot (about 15 minutes of one slot at 10 chunks/s): far more than a failover needs. */
export const INGEST_STREAM_MAX = 10_000
/** Events kept for replay and for instances that start: every channel's, together. */
export const EVENT_STREAM_MAX = 20_000
/** Events an instance reads at start to fill its replay rings. */
export const SEED_EVENTS = 5_000
/** How long a read waits for new entries before looking again at which slots this instance owns. */
const INGEST_BLOCK_MS = 100
const EVENTS_BLOCK_MS = 5_000
const READ_COUNT = 1_000
/** A recording in progress is kept in Redis this long, so a successor can finish it. */
const RECORDING_TTL_MS = 3_600_000

const EVENTS_KEY = 'airwave:radio:events'
const ingestKey = (slot: number) => `airwave:radio:ingest:${slot}`
const slotKey = (slot: number, what: 'state' | 'cursor') => `airwave:radio:slot${slot}:${what}`
const channelName = (scope: ChannelScope) =>
  'slot' in scope ? `slot:${scope.slot}` : `system:${scope.system}`
const lastIdKey = (channel: string) => `airwave:radio:lastid:${channel}`

function scopeOf(channel: string): ChannelScope | null {
  const [kind, n] = channel.split(':')
  const value = Number(n)
  if (!Number.isSafeInteger(value)) return null
  return kind === 'slot' ? { slot: value } : kind === 'system' ? { system: value } : null
}

/**
 * KEYS: lease, events stream, channel's last id, slot cursor, slot state.
 * ARGV: lease value ('' unfenced), channel, first id if the channel has none, cursor ('' keep), state ('' keep),
 * events stream length, recording TTL, event count, recorded count, ended count, then 4 per event (name, data,
 * transmission, talkgroup), 2 per recorded chunk (transmission, chunk), 1 per ended transmission.
 */
const COMMIT = `
if ARGV[1] ~= '' and redis.call('GET', KEYS[1]) ~= ARGV[1] then return redis.error_reply('FENCED lease lost') end
local last = redis.call('GET', KEYS[3])
local id = last and (tonumber(last) + 1) or tonumber(ARGV[3])
local first = id
local p = 11
for i = 1, tonumber(ARGV[8]) do
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[6], '*', 'c', ARGV[2], 'i', string.format('%d', id),
    'e', ARGV[p], 'd', ARGV[p + 1], 'x', ARGV[p + 2], 't', ARGV[p + 3])
  id = id + 1
  p = p + 4
end
if id > first then redis.call('SET', KEYS[3], string.format('%d', id - 1)) end
for i = 1, tonumber(ARGV[9]) do
  local key = 'airwave:radio:rec:' .. ARGV[p]
  redis.call('RPUSH', key, ARGV[p + 1])
  redis.call('PEXPIRE', key, ARGV[7])
  p = p + 2
end
for i = 1, tonumber(ARGV[10]) do
  redis.call('DEL', 'airwave:radio:rec:' .. ARGV[p])
  p = p + 1
end
if ARGV[4] ~= '' then redis.call('SET', KEYS[4], ARGV[4]) end
if ARGV[5] ~= '' then redis.call('SET', KEYS[5], ARGV[5]) end
return first`

const COMMIT_COMMAND = 'airwaveRadioCommit'
type WithCommit = Record<typeof COMMIT_COMMAND, (...args: Array<string | number>) => Promise<number>>

interface HeldWrite {
  scope: ChannelScope
  events: RadioEvent[]
  commit: SlotCommit
}

/** Adds a later turn of the same slot to a held write: its events and recordings after, its position and state. */
function mergeInto(held: HeldWrite, events: readonly RadioEvent[], commit: SlotCommit): void {
  held.events.push(...events)
  held.commit.recorded.push(...commit.recorded)
  held.commit.ended.push(...commit.ended)
  held.commit.ingestId = commit.ingestId ?? held.commit.ingestId
  held.commit.state = commit.state
}

interface OwnedSlot {
  lease: Lease
  /** The last ingest entry handed to the actor. */
  cursor: string
}

type Fields = string[]

function field(fields: Fields, name: string): string | undefined {
  for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i] === name) return fields[i + 1]
  return undefined
}

function chunkToFields(chunk: QueuedChunk): string[] {
  const fields = [
    'r',
    String(chunk.radioId),
    'g',
    String(chunk.talkgroupId),
    'q',
    String(chunk.sequence),
    'f',
    chunk.format,
    'u',
    String(chunk.durationSamples),
    'a',
    String(chunk.receivedAt),
    's',
    chunk.saveRecording ? '1' : '0',
    'd',
    Buffer.from(chunk.chunkData.buffer, chunk.chunkData.byteOffset, chunk.chunkData.byteLength).toString(
      'base64',
    ),
  ]
  if (chunk.timestamp !== undefined) fields.push('ts', chunk.timestamp)
  if (chunk.capturedAt !== undefined) fields.push('ca', String(chunk.capturedAt))
  return fields
}

function chunkFromFields(slot: number, fields: Fields): QueuedChunk {
  const capturedAt = field(fields, 'ca')
  return {
    slot,
    radioId: Number(field(fields, 'r')),
    talkgroupId: Number(field(fields, 'g')),
    sequence: Number(field(fields, 'q')),
    format: field(fields, 'f') as ChunkFormat,
    durationSamples: Number(field(fields, 'u')),
    receivedAt: Number(field(fields, 'a')),
    saveRecording: field(fields, 's') === '1',
    chunkData: new Uint8Array(Buffer.from(field(fields, 'd') ?? '', 'base64')),
    timestamp: field(fields, 'ts'),
    capturedAt: capturedAt === undefined ? undefined : Number(capturedAt),
  }
}

export class RedisRadioBus implements RadioBus {
  readonly handsOverAtShutdown = true
  private node: RadioNode | undefined
  /** Leases held now, by slot; a slot is `owned` once its takeover has read what the previous owner left. */
  private readonly granted = new Map<number, Lease>()
  private readonly owned = new Map<number, OwnedSlot>()
  private readonly stopContending: Array<() => Promise<void>> = []
  private closed = false

  /** Slot writes gathered while one read of the ingest streams is processed; written once per slot after it. */
  private batch: Map<number, HeldWrite> | null = null
  constructor(
    private readonly leases: Leases,
    private readonly link: RedisLink,
  ) {
    // Sent once, then called by its SHA; ioredis loads it again after a Redis restart.
    link.commands.defineCommand(COMMIT_COMMAND, { numberOfKeys: 5, lua: COMMIT })
  }

  private get redis() {
    return this.link.commands
  }

  start(node: RadioNode): void {
    this.node = node
    for (const slot of SLOTS) {
      this.stopContending.push(
        this.leases.contend(`radio:slot${slot}`, {
          acquired: (lease) => {
            this.granted.set(slot, lease)
            void this.takeOver(slot, lease)
          },
          lost: (lease) => {
            if (this.granted.get(slot) === lease) this.granted.delete(slot)
            this.lose(slot, lease)
          },
        }),
      )
    }
    void this.readEvents(this.link.dedicated('radio-events'))
    void this.readIngest(this.link.dedicated('radio-ingest'))
  }

  async submit(chunk: QueuedChunk): Promise<IngestOutcome> {
    try {
      await this.redis.xadd(
        ingestKey(chunk.slot),
        'MAXLEN',
        '~',
        INGEST_STREAM_MAX,
        '*',
        ...chunkToFields(chunk),
      )
      if (tracingHops) traceHop('xadd', chunk.slot, chunk.sequence)
      return { duplicate: null, transmissionId: null }
    } catch (err) {
      // Redis unreachable: this instance carries the slot alone until it is back.
      log.debug({ err }, 'ingest stream unreachable; chunk handled on this instance')
      return this.started().process(chunk)
    }
  }

  publish(scope: ChannelScope, events: readonly RadioEvent[], commit?: SlotCommit): void {
    const owned = commit ? this.owned.get(commit.slot) : undefined
    // Without Redis, or from a slot actor this instance runs without owning it (Redis was unreachable): alone.
    if (!this.link.reachable || (commit && !owned)) {
      this.started().appendLocal(scope, events)
      return
    }
    if (commit && this.batch) {
      const held = this.batch.get(commit.slot)
      if (held) mergeInto(held, events, commit)
      else
        this.batch.set(commit.slot, {
          scope,
          events: [...events],
          commit: { ...commit, recorded: [...commit.recorded], ended: [...commit.ended] },
        })
      return
    }
    this.write(scope, events, commit)
  }

  /** One fenced script call: the events (numbered by Redis), and for a slot its state, recordings and read position. */
  private write(scope: ChannelScope, events: readonly RadioEvent[], commit?: SlotCommit): void {
    if (events.length === 0 && !commit?.ingestId) return
    const node = this.started()
    const owned = commit ? this.owned.get(commit.slot) : undefined
    if (commit && !owned) return
    const channel = channelName(scope)
    const slot = commit?.slot ?? 0
    const args: Array<string | number> = [
      owned?.lease.key ?? 'airwave:lease:none',
      EVENTS_KEY,
      lastIdKey(channel),
      slotKey(slot, 'cursor'),
      slotKey(slot, 'state'),
      owned?.lease.value ?? '',
      channel,
      // A channel's first id in the cluster (or after Redis lost its counters): above every id any instance gave.
      Math.max(node.lastEventId(scope) + 1, Date.now()),
      commit?.ingestId ?? '',
      commit ? commit.state() : '',
      EVENT_STREAM_MAX,
      RECORDING_TTL_MS,
      events.length,
      commit?.recorded.length ?? 0,
      commit?.ended.length ?? 0,
    ]
    for (const e of events)
      args.push(e.name, e.data, e.transmissionId, e.talkgroup === undefined ? '' : e.talkgroup)
    for (const [transmissionId, chunk] of commit?.recorded ?? []) args.push(transmissionId, chunk)
    for (const transmissionId of commit?.ended ?? []) args.push(transmissionId)
    const redis = this.redis as unknown as WithCommit
    const committed = redis[COMMIT_COMMAND](...args)
    if (tracingHops && commit) {
      const sent = preciseNow()
      void committed.then(() => {
        for (const e of events) {
          if (e.name !== 'audio_chunk') continue
          traceHop('commitsent', commit.slot, sequenceOf(e.data), sent)
          traceHop('commit', commit.slot, sequenceOf(e.data))
        }
      })
    }
    committed.catch((err: Error) => {
      if (err.message.startsWith('FENCED')) {
        // Another instance owns the slot: its successor will redo this work from the ingest stream.
        if (owned) this.lose(slot, owned.lease)
        return
      }
      log.warn({ err, channel }, 'radio events could not reach Redis; delivered on this instance only')
      node.appendLocal(scope, events)
    })
  }

  async close(): Promise<void> {
    this.closed = true
    // Releasing hands each owned slot to another instance at once, instead of after the lease expires.
    await Promise.all(this.stopContending.map((stop) => stop()))
  }

  private started(): RadioNode {
    if (!this.node) throw new Error('the radio bus was not started')
    return this.node
  }

  /** This instance holds the slot's lease: continue from what the previous owner committed. */
  private async takeOver(slot: number, lease: Lease): Promise<void> {
    try {
      const [state, cursor] = await this.redis.mget(slotKey(slot, 'state'), slotKey(slot, 'cursor'))
      const recorded: Array<[string, string]> = []
      const current = state
        ? (JSON.parse(state) as { transmission?: { transmissionId?: string } | null })
        : null
      const transmissionId = current?.transmission?.transmissionId
      if (transmissionId) {
        for (const chunk of await this.redis.lrange(`airwave:radio:rec:${transmissionId}`, 0, -1)) {
          recorded.push([transmissionId, chunk])
        }
      }
      if (this.granted.get(slot) !== lease) return
      this.started().takeOver(slot, state ?? null, recorded)
      this.owned.set(slot, { lease, cursor: cursor ?? '0-0' })
      log.info({ slot, token: lease.token, cursor }, 'radio slot taken over')
    } catch (err) {
      log.warn({ err, slot }, 'radio slot takeover failed; retrying')
      await Bun.sleep(REDIS_RECONNECT_MS)
      if (this.granted.get(slot) === lease) await this.takeOver(slot, lease)
    }
  }

  private lose(slot: number, lease: Lease): void {
    const owned = this.owned.get(slot)
    if (!owned || owned.lease.token !== lease.token) return
    this.owned.delete(slot)
    // Reachable Redis means another instance owns it now; unreachable, this instance carries on alone meanwhile.
    if (this.link.reachable) this.started().giveUp(slot)
    log.info({ slot, token: lease.token }, 'radio slot lease lost')
  }

  /** Hands each owned slot's ingest entries to its actor, in order. */
  private async readIngest(connection: import('ioredis').default): Promise<void> {
    while (!this.closed) {
      const slots = [...this.owned.keys()]
      if (slots.length === 0) {
        await Bun.sleep(INGEST_BLOCK_MS)
        continue
      }
      try {
        const cursors = slots.map((slot) => this.owned.get(slot)?.cursor ?? '0-0')
        const streams = (await connection.xread(
          'COUNT',
          READ_COUNT,
          'BLOCK',
          INGEST_BLOCK_MS,
          'STREAMS',
          ...slots.map(ingestKey),
          ...cursors,
        )) as Array<[string, Array<[string, Fields]>]> | null
        this.batch = new Map()
        const readAt = tracingHops ? preciseNow() : 0
        try {
          for (const [key, entries] of streams ?? []) {
            const slot = Number(key.slice(key.lastIndexOf(':') + 1))
            for (const [id, fields] of entries) {
              if (tracingHops) traceHop('read', slot, Number(field(fields, 'q')), readAt)
              const owned = this.owned.get(slot)
              if (!owned) break
              owned.cursor = id
              this.started().process(chunkFromFields(slot, fields), id)
            }
          }
        } finally {
          const batch = this.batch
          this.batch = null
          for (const held of batch.values()) this.write(held.scope, held.events, held.commit)
        }
      } catch (err) {
        if (this.closed) return
        log.debug({ err }, 'reading the ingest streams failed; retrying')
        await Bun.sleep(REDIS_RECONNECT_MS)
      }
    }
  }

  /** Delivers every channel's events to this instance's listeners, after filling the rings from the stream. */
  private async readEvents(connection: import('ioredis').default): Promise<void> {
    let last: string | undefined
    let cutOff = false
    while (!this.closed) {
      try {
        if (last === undefined) {
          const recent = (await connection.xrevrange(EVENTS_KEY, '+', '-', 'COUNT', SEED_EVENTS)) as Array<
            [string, Fields]
          >
          recent.reverse()
          this.deliver(recent)
          last = recent.at(-1)?.[0] ?? '0-0'
          continue
        }
        const streams = (await connection.xread(
          'COUNT',
          READ_COUNT,
          'BLOCK',
          EVENTS_BLOCK_MS,
          'STREAMS',
          EVENTS_KEY,
          last,
        )) as Array<[string, Array<[string, Fields]>]> | null
        const entries = streams?.[0]?.[1] ?? []
        if (tracingHops) {
          const at = preciseNow()
          for (const [, fields] of entries) {
            if (field(fields, 'e') !== 'audio_chunk') continue
            traceHop('evread', Number(field(fields, 'c')?.slice(5)), sequenceOf(field(fields, 'd') ?? ''), at)
          }
        }
        if (cutOff) {
          // While cut off, each instance published alone: what this one thinks is in progress may have ended.
          this.started().resync()
          cutOff = false
        }
        this.deliver(entries)
        last = entries.at(-1)?.[0] ?? last
      } catch (err) {
        if (this.closed) return
        cutOff = true
        log.debug({ err }, 'reading the radio events failed; retrying')
        await Bun.sleep(REDIS_RECONNECT_MS)
      }
    }
  }

  private deliver(entries: Array<[string, Fields]>): void {
    const node = this.started()
    for (const [, fields] of entries) {
      const scope = scopeOf(field(fields, 'c') ?? '')
      const id = Number(field(fields, 'i'))
      if (!scope || !Number.isSafeInteger(id)) continue
      const talkgroup = field(fields, 't')
      node.receive(scope, id, {
        name: field(fields, 'e') as RadioEventName,
        data: field(fields, 'd') ?? '{}',
        transmissionId: field(fields, 'x') ?? '',
        talkgroup: talkgroup ? Number(talkgroup) : undefined,
      })
    }
  }
}
