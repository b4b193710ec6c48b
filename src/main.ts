import { closeServices, createServices, type Services } from './app-services.ts'
import { type Config, ConfigError, loadConfig } from './config.ts'
import { DatabaseUnreachableError } from './platform/db/index.ts'
import { log } from './platform/log.ts'
import { createApp } from './server.ts'

const DEV_TOKEN_TTL_S = 30 * 24 * 3600
const SHUTDOWN_GRACE_MS = 10_000

/** Prints one line saying what to fix and exits: a bad setting is never a stack trace. */
function fail(message: string): never {
  console.error(`airwave: ${message}`)
  process.exit(1)
}

async function boot(): Promise<{ config: Config; services: Services }> {
  let config: Config
  try {
    config = loadConfig()
  } catch (err) {
    if (err instanceof ConfigError) fail(err.message)
    throw err
  }
  try {
    return { config, services: await createServices(config) }
  } catch (err) {
    if (err instanceof DatabaseUnreachableError) fail(err.message)
    fail(`could not start: ${(err as Error).message}`)
  }
}

const { config, services } = await boot()
const app = createApp(services)
try {
  app.listen({
    port: config.port,
    hostname: config.host,
    // A stale server on the same port would silently take half the connections.
    reusePort: false,
    idleTimeout: 60,
    // Features enforce their own, smaller limits and answer in their error shape.
    maxRequestBodySize: 2 * 1024 * 1024 * 1024,
  })
} catch (err) {
  fail(`cannot listen on ${config.host}:${config.port} (${(err as Error).message}): set PORT to a free port`)
}
const server = app.server
if (!server) fail('the server did not start')

const url = `http://${config.host === '0.0.0.0' ? 'localhost' : config.host}:${server.port}`
log.info(
  {
    url,
    port: server.port,
    database: services.database.description,
    storage: services.blobs.kind,
    env: config.env,
  },
  'airwave listening',
)
// One write, so anything waiting for the "listening" line sees the whole block.
const banner = [
  `Airwave listening on ${url}`,
  `  database: ${services.database.description}`,
  `  storage:  ${services.blobs.kind === 's3' ? `S3 bucket ${config.s3?.bucket}` : `local, under ${config.dataDir}/blobs`}`,
]
if (config.env === 'development') {
  const token = await services.tokens.sign({ userId: 'dev', role: 'admin' }, DEV_TOKEN_TTL_S)
  banner.push(
    `  dev token (sub=dev, role=admin, 30 days): ${token}`,
    `  try: curl -H "Authorization: Bearer <token>" ${url}/api/v1/admin/keys/`,
  )
}
console.log(banner.join('\n'))

let stopping = false
async function shutdown(signal: string): Promise<void> {
  if (stopping) {
    log.warn({ signal }, 'second signal: exiting now')
    process.exit(1)
  }
  stopping = true
  log.info({ signal }, 'shutting down')
  const force = setTimeout(() => {
    log.error('shutdown took too long: exiting')
    process.exit(1)
  }, SHUTDOWN_GRACE_MS)
  force.unref()
  // Stop accepting first; long-lived streams are closed by their owners below, so in-flight requests can finish.
  const drained = server?.stop(false)
  services.realtime.closeAll()
  services.sse.closeAll()
  await closeServices(services)
  await Promise.race([drained, Bun.sleep(2000)])
  await server?.stop(true)
  log.info('stopped')
  process.exit(0)
}

process.on('SIGTERM', () => void shutdown('SIGTERM'))
process.on('SIGINT', () => void shutdown('SIGINT'))
