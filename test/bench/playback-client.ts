/**
 * Devices for test/bench/playback.bench.ts, in their own process so the server under test keeps its cores' share.
 * `users` × 2 WebSockets on `/ws` (each user's devices `d0` and `d1`); every socket sends `updateStreaming` once a
 * second, the sends spread evenly over the second. Each update carries a per-socket sequence number as its
 * `currentTime` (one second of playback per second); latency is the time from the send on one device to the
 * `trackUpdated` carrying it arriving on the same user's other device, on this process's clock. Prints one JSON line.
 */
import { TokenService } from '../../src/identity/tokens.ts'
import { LatencyHistogram } from './support.ts'

interface Options {
  /** `http://127.0.0.1:port` */
  base: string
  users: number
  seconds: number
  trackId: string
  jwtSecret: string
}

const options = JSON.parse(process.argv[2] ?? '{}') as Options
const DEVICES = 2
const latency = new LatencyHistogram()

interface Device {
  user: number
  device: number
  ws: WebSocket
  ready: boolean
  /** Send time of each sequence number this device sent, until the other device hears it. */
  sentAt: Map<number, number>
  sent: number
  /** Updates from the other device that arrived here. */
  heard: number
  errors: number
}

const devices: Device[] = []
const tokens = new TokenService(options.jwtSecret)

function onMessage(device: Device, raw: string): void {
  const at = performance.now()
  const { event, data } = JSON.parse(raw) as { event: string; data: Record<string, unknown> }
  if (event === 'trackState') {
    device.ready = true
    return
  }
  if (event === 'error') {
    device.errors++
    return
  }
  if (event !== 'trackUpdated') return
  const from = data.deviceId === 'd0' ? 0 : 1
  if (from === device.device) return
  const sender = devices[device.user * DEVICES + from]
  const sequence = Math.round(Number(data.currentTime))
  const sent = sender?.sentAt.get(sequence)
  if (!sender || sent === undefined) return
  sender.sentAt.delete(sequence)
  device.heard++
  latency.record(at - sent)
}

async function connect(): Promise<void> {
  const BATCH = 200
  for (let user = 0; user < options.users; user += BATCH / DEVICES) {
    const opening: Promise<void>[] = []
    for (let u = user; u < Math.min(options.users, user + BATCH / DEVICES); u++) {
      const token = await tokens.sign({ userId: `bench-user-${u}` }, 3600)
      for (let d = 0; d < DEVICES; d++) {
        const url = new URL('/ws', options.base.replace(/^http/, 'ws'))
        url.searchParams.set('token', token)
        url.searchParams.set('device', `d${d}`)
        url.searchParams.set('user', `bench-user-${u}`)
        const ws = new WebSocket(url)
        const device: Device = {
          user: u,
          device: d,
          ws,
          ready: false,
          sentAt: new Map(),
          sent: 0,
          heard: 0,
          errors: 0,
        }
        devices.push(device)
        ws.onmessage = (m) => onMessage(device, String(m.data))
        opening.push(
          new Promise((resolve) => {
            ws.onopen = () => {
              ws.send(JSON.stringify({ event: 'getCurrentState', data: {} }))
              resolve()
            }
            ws.onerror = () => resolve()
          }),
        )
      }
    }
    await Promise.all(opening)
  }
  const deadline = Date.now() + 60_000
  while (devices.some((d) => !d.ready) && Date.now() < deadline) await Bun.sleep(50)
}

/** Every device sends once a second for `seconds`, in 100 slots of 10 ms so the sends are spread evenly. */
async function load(): Promise<void> {
  const SLOTS = 100
  const SLOT_MS = 1000 / SLOTS
  const start = performance.now()
  for (let tick = 0; tick < options.seconds * SLOTS; tick++) {
    const due = start + tick * SLOT_MS - performance.now()
    if (due > 0) await Bun.sleep(due)
    const sequence = Math.floor(tick / SLOTS)
    for (let i = tick % SLOTS; i < devices.length; i += SLOTS) {
      const device = devices[i] as Device
      if (device.ws.readyState !== WebSocket.OPEN) continue
      device.sentAt.set(sequence, performance.now())
      device.ws.send(
        JSON.stringify({
          event: 'updateStreaming',
          data: { trackId: options.trackId, currentTime: sequence, isPlaying: true },
        }),
      )
      device.sent++
    }
  }
}

await connect()
const connected = devices.filter((d) => d.ready).length
console.error(`client: ${connected}/${options.users * DEVICES} sockets ready`)
await load()
await Bun.sleep(2000)
let sent = 0
let heard = 0
let errors = 0
for (const d of devices) {
  sent += d.sent
  heard += d.heard
  errors += d.errors
  d.ws.close()
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
  }),
)
process.exit(0)
