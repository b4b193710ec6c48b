/**
 * Devices for test/bench/playback.bench.ts, in their own process so the server under test keeps its cores' share.
 * `users` × 2 connections on `/ws` or on Socket.IO (socket.io-client over WebSocket), each user's devices `d0` and
 * `d1`. `d0` plays first, so it leads the session; then every device sends `updateStreaming` once a second, the sends
 * spread evenly over the second, as the documents' client does on every timeupdate. The leader's updates carry a
 * per-socket sequence number as their `currentTime` (one second of playback per second) and are announced to both
 * devices; the follower's are ignored by the session (they never undo the leader's). Latency is the time from the
 * leader's send to the `trackUpdated` carrying it arriving on the follower, on this process's clock; the client's
 * own event-loop lag is reported beside it, so a tail the client made itself is not taken for the server's. Prints
 * one JSON line.
 */
import { io } from 'socket.io-client'
import { TokenService } from '../../src/identity/tokens.ts'
import { LatencyHistogram } from './support.ts'

interface Options {
  /** `http://127.0.0.1:port` */
  base: string
  transport: 'ws' | 'socket.io'
  users: number
  seconds: number
  trackId: string
  jwtSecret: string
}

const options = JSON.parse(process.argv[2] ?? '{}') as Options
const DEVICES = 2
const LEADER = 0
const latency = new LatencyHistogram()
/** How late this process's own 5 ms ticks ran during the load: a latency tail the client made itself shows here. */
const clientLag = new LatencyHistogram()

/** One device's connection, whatever the transport. */
interface Link {
  send(event: string, data: unknown): void
  readonly open: boolean
  close(): void
}

interface Device {
  user: number
  device: number
  link: Link
  ready: boolean
  /** Send time of each sequence number the leader sent, until the follower hears it. */
  sentAt: Map<number, number>
  sent: number
  /** Leader updates that arrived on this (follower) device. */
  heard: number
  errors: number
}

const devices: Device[] = []
const tokens = new TokenService(options.jwtSecret)

function onEvent(device: Device, event: string, data: Record<string, unknown>, at: number): void {
  if (event === 'trackState') {
    device.ready = true
    return
  }
  if (event === 'error') {
    device.errors++
    return
  }
  if (event !== 'trackUpdated' || device.device === LEADER) return
  const leader = devices[device.user * DEVICES + LEADER]
  const sequence = Math.round(Number(data.currentTime))
  const sent = leader?.sentAt.get(sequence)
  if (!leader || sent === undefined) return
  leader.sentAt.delete(sequence)
  device.heard++
  latency.record(at - sent)
}

type Receive = (event: string, data: Record<string, unknown>, at: number) => void
/** Opens one device's connection; `opened` settles once it is open (or failed). */
type Connect = (
  token: string,
  query: { user: string; device: string },
  receive: Receive,
) => { link: Link; opened: Promise<void> }

const wsLink: Connect = (token, query, receive) => {
  const url = new URL('/ws', options.base.replace(/^http/, 'ws'))
  url.searchParams.set('token', token)
  // `user` is for the floor, which has no tokens.
  url.searchParams.set('user', query.user)
  url.searchParams.set('device', query.device)
  const ws = new WebSocket(url)
  ws.onmessage = (m) => {
    const at = performance.now()
    const { event, data } = JSON.parse(String(m.data)) as { event: string; data: Record<string, unknown> }
    receive(event, data, at)
  }
  const opened = new Promise<void>((resolve) => {
    ws.onopen = () => resolve()
    ws.onerror = () => resolve()
  })
  const link: Link = {
    send: (event, data) => ws.send(JSON.stringify({ event, data })),
    get open() {
      return ws.readyState === WebSocket.OPEN
    },
    close: () => ws.close(),
  }
  return { link, opened }
}

const socketIoLink: Connect = (token, query, receive) => {
  const socket = io(options.base, {
    transports: ['websocket'],
    auth: { token },
    query,
    forceNew: true,
    reconnection: false,
  })
  socket.onAny((event: string, data: Record<string, unknown>) => receive(event, data, performance.now()))
  const opened = new Promise<void>((resolve) => {
    socket.on('connect', () => resolve())
    socket.on('connect_error', () => resolve())
  })
  const link: Link = {
    send: (event, data) => socket.emit(event, data),
    get open() {
      return socket.connected
    },
    close: () => socket.disconnect(),
  }
  return { link, opened }
}

async function connect(): Promise<void> {
  const BATCH = 200
  const open = options.transport === 'socket.io' ? socketIoLink : wsLink
  for (let user = 0; user < options.users; user += BATCH / DEVICES) {
    const opening: Promise<void>[] = []
    for (let u = user; u < Math.min(options.users, user + BATCH / DEVICES); u++) {
      const token = await tokens.sign({ userId: `bench-user-${u}` }, 3600)
      for (let d = 0; d < DEVICES; d++) {
        const { link, opened } = open(
          token,
          { user: `bench-user-${u}`, device: `d${d}` },
          (event, data, at) => onEvent(device, event, data, at),
        )
        const device: Device = {
          user: u,
          device: d,
          link,
          ready: false,
          sentAt: new Map(),
          sent: 0,
          heard: 0,
          errors: 0,
        }
        devices.push(device)
        opening.push(
          opened.then(() => {
            if (link.open) link.send('getCurrentState', {})
          }),
        )
      }
    }
    await Promise.all(opening)
  }
  const deadline = Date.now() + 60_000
  while (devices.some((d) => !d.ready) && Date.now() < deadline) await Bun.sleep(50)
  // The leader starts the track: an explicit action, which makes it lead its user's session.
  for (const d of devices) {
    if (d.device === LEADER) d.link.send('playTrack', { trackId: options.trackId, currentTime: 0 })
  }
  await Bun.sleep(1000)
}

/** Every device sends once a second for `seconds`, in 100 slots of 10 ms so the sends are spread evenly. */
async function load(): Promise<void> {
  const SLOTS = 100
  const SLOT_MS = 1000 / SLOTS
  const start = performance.now()
  for (let tick = 0; tick < options.seconds * SLOTS; tick++) {
    const due = start + tick * SLOT_MS - performance.now()
    if (due > 0) await Bun.sleep(due)
    const sequence = 1 + Math.floor(tick / SLOTS)
    for (let i = tick % SLOTS; i < devices.length; i += SLOTS) {
      const device = devices[i] as Device
      if (!device.link.open) continue
      if (device.device === LEADER) {
        device.sentAt.set(sequence, performance.now())
        device.sent++
      }
      device.link.send('updateStreaming', {
        trackId: options.trackId,
        currentTime: sequence,
        isPlaying: true,
      })
    }
  }
}

await connect()
const connected = devices.filter((d) => d.ready).length
console.error(`client (${options.transport}): ${connected}/${options.users * DEVICES} sockets ready`)
const TICK_MS = 5
let lastTick = performance.now()
const lagProbe = setInterval(() => {
  const now = performance.now()
  clientLag.record(Math.max(0, now - lastTick - TICK_MS))
  lastTick = now
}, TICK_MS)
await load()
clearInterval(lagProbe)
await Bun.sleep(2000)
let sent = 0
let heard = 0
let errors = 0
for (const d of devices) {
  sent += d.sent
  heard += d.heard
  errors += d.errors
  d.link.close()
}
console.log(
  JSON.stringify({
    connected,
    sent,
    heard,
    lost: sent - heard,
    errors,
    p50: latency.percentile(0.5),
    p99: latency.percentile(0.99),
    max: latency.percentile(1),
    clientLagP99: clientLag.percentile(0.99),
    clientLagMax: clientLag.percentile(1),
  }),
)
process.exit(0)
