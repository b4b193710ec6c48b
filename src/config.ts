import { randomBytes } from 'node:crypto'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { hostname } from 'node:os'
import { join, resolve } from 'node:path'

/** Thrown for any invalid setting; `main.ts` prints its message as one line and exits. */
export class ConfigError extends Error {
  override name = 'ConfigError'
}

export interface S3Config {
  endpoint: string | undefined
  region: string
  bucket: string
  accessKeyId: string | undefined
  secretAccessKey: string | undefined
  forcePathStyle: boolean
}

export interface Config {
  env: 'development' | 'production' | 'test'
  port: number
  host: string
  dataDir: string
  databaseUrl: string | undefined
  audioFilesDir: string
  jwtSecret: string
  /** True when JWT_SECRET was generated into DATA_DIR rather than given. */
  jwtSecretGenerated: boolean
  ingestApiKeys: string[]
  s3: S3Config | undefined
  signedUrlTtl: number
  publicUrl: string
  corsOrigins: string[]
  redisUrl: string | undefined
  /** Names this instance in the cluster (INSTANCE_ID; generated when not given). */
  instanceId: string
  /** Where the other instances of the cluster reach this one over HTTP (INSTANCE_URL), without a trailing slash. */
  instanceUrl: string
  ingestRateLimit: number
  listenTimeoutS: number
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent'
  ffmpegPath: string
  audiobooks: AudiobookLimits
  livestream: LivestreamConfig
  tracks: TrackConfig
  calls: CallConfig
}

/** Scanner call uploads' explicit limits (CALL_* variables). */
export interface CallConfig {
  /** Largest call audio file, in bytes (CALL_UPLOAD_MAX_MB). */
  uploadMaxBytes: number
  /** Longest call kept, in seconds (CALL_MAX_SECONDS); the rest of a longer one is cut off. */
  maxSeconds: number
  /** Calls transcoded at once (CALL_TRANSCODE_CONCURRENCY). */
  transcodeConcurrency: number
  /** Calls waiting for a transcode slot (CALL_QUEUE_MAX); past it an upload is a 503 the uploader retries. */
  maxQueued: number
  /**
   * Who transcodes (CALL_TRANSCODER): `native` (the addon decodes WAV, MP3 and AAC-LC and encodes with libopus in
   * process; anything else goes to FFmpeg) or `ffmpeg` (every call through FFmpeg, the previous design).
   */
  transcoder: 'native' | 'ffmpeg'
  /** libopus complexity 0–10 for call audio (CALL_OPUS_COMPLEXITY): CPU per call against quality. */
  opusComplexity: number
}

/** The track library's explicit limits (TRACK_* variables). */
export interface TrackConfig {
  /** Largest track upload, in bytes (TRACK_UPLOAD_MAX_MB). */
  uploadMaxBytes: number
  /**
   * TRACK_ACCEL_REDIRECT: the prefix of nginx's internal locations. When set, the stream paths check the token and
   * the track, then answer `X-Accel-Redirect: <prefix>library/<path>` or `<prefix>uploads/<id>` and nginx sends the
   * bytes (with its own Range handling).
   */
  accelRedirectPrefix: string | undefined
}

/** Explicit bounds on audiobook uploads and processing (AUDIOBOOK_* variables). */
export interface AudiobookLimits {
  /** Largest single chapter file accepted, in bytes. */
  maxFileBytes: number
  /** Largest whole upload (all chapters together), in bytes. */
  maxTotalBytes: number
  /** Most chapter files in one job. */
  maxChapters: number
  /** Jobs transcoded at the same time on this instance; the rest wait as PENDING. */
  concurrency: number
  /**
   * Seconds a job's claim lasts unrenewed (AUDIOBOOK_CLAIM_TTL_S): in a cluster, how long after its instance died a
   * job waits before another instance takes it over. Claims are renewed every third of it.
   */
  claimTtlSeconds: number
}

const MIB = 1024 * 1024

/** Livestream tuning (livestream-api.md); every limit is explicit and configurable. */
export interface LivestreamConfig {
  /** HLS segment length in seconds (LIVESTREAM_SEGMENT_SECONDS). */
  segmentSeconds: number
  /** FFmpeg restarts without a new segment before a stream ends `failed` (LIVESTREAM_MAX_RESTARTS). */
  maxRestarts: number
  /** Seconds a stream waits for its broadcaster to reconnect (LIVESTREAM_GRACE_S). */
  graceSeconds: number
  /** In a cluster, the newest segments of each stream kept in Redis for the other instances (LIVESTREAM_SHARED_SEGMENTS). */
  sharedSegments: number
  /** Seconds an ended stream's playlist and segments stay watchable before removal (LIVESTREAM_RETENTION_S). */
  retentionSeconds: number
  /** x264 preset (LIVESTREAM_X264_PRESET). */
  x264Preset: string
  /** WebSocket connections per minute per IP that use livestream events (LIVESTREAM_CONNECTIONS_PER_MIN). */
  connectionsPerMinute: number
  /** stream-data bytes per minute per stream (LIVESTREAM_DATA_BYTES_PER_MIN); the default fits 720p. */
  dataBytesPerMinute: number
  /** Livestream control events per minute per connection (LIVESTREAM_EVENTS_PER_MIN); stream-data is not one. */
  eventsPerMinute: number
  /** stream-data chunks per minute per connection (LIVESTREAM_CHUNKS_PER_MIN); 100 ms MediaRecorder chunks are 600. */
  chunksPerMinute: number
  /** HTTP requests per minute per IP: general (start/stop), stream (playlist/segments), status endpoints. */
  httpGeneralPerMinute: number
  httpStreamPerMinute: number
  httpStatusPerMinute: number
}

const X264_PRESETS = [
  'ultrafast',
  'superfast',
  'veryfast',
  'faster',
  'fast',
  'medium',
  'slow',
  'slower',
  'veryslow',
] as const

type Env = Record<string, string | undefined>

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const

function str(env: Env, name: string): string | undefined {
  const v = env[name]?.trim()
  return v === undefined || v === '' ? undefined : v
}

function int(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = str(env, name)
  if (raw === undefined) return fallback
  if (!/^\d+$/.test(raw) || Number(raw) < min || Number(raw) > max) {
    throw new ConfigError(`${name}=${raw} is not valid: set it to a whole number from ${min} to ${max}`)
  }
  return Number(raw)
}

function bool(env: Env, name: string): boolean {
  const raw = str(env, name)?.toLowerCase()
  if (raw === undefined || raw === 'false' || raw === '0') return false
  if (raw === 'true' || raw === '1') return true
  throw new ConfigError(`${name}=${raw} is not valid: set it to true or false`)
}

function oneOf<const T extends readonly string[]>(
  env: Env,
  name: string,
  values: T,
  fallback: T[number],
): T[number] {
  const raw = str(env, name)?.toLowerCase()
  if (raw === undefined) return fallback
  if (!(values as readonly string[]).includes(raw)) {
    throw new ConfigError(`${name}=${raw} is not valid: use one of ${values.join(', ')}`)
  }
  return raw as T[number]
}

function url(env: Env, name: string, protocols: string[]): string | undefined {
  const raw = str(env, name)
  if (raw === undefined) return undefined
  let parsed: URL
  try {
    parsed = new URL(raw)
  } catch {
    throw new ConfigError(`${name} is not a valid URL: expected something like ${protocols[0]}//host:port`)
  }
  if (!protocols.includes(parsed.protocol)) {
    throw new ConfigError(`${name} must start with ${protocols.join(' or ')}, got ${parsed.protocol}`)
  }
  return raw
}

/** In development the secret is generated once and kept in DATA_DIR so tokens survive restarts. */
function developmentSecret(dataDir: string): string {
  const file = join(dataDir, 'jwt-secret')
  try {
    return readFileSync(file, 'utf8').trim()
  } catch {
    const secret = Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('base64url')
    mkdirSync(dataDir, { recursive: true })
    writeFileSync(file, `${secret}\n`, { mode: 0o600 })
    return secret
  }
}

/** Reads and validates the environment once. Throws ConfigError with a one-line fix on bad input. */
export function loadConfig(env: Env = process.env): Config {
  const nodeEnv = str(env, 'NODE_ENV') ?? 'development'
  if (nodeEnv !== 'development' && nodeEnv !== 'production' && nodeEnv !== 'test') {
    throw new ConfigError(`NODE_ENV=${nodeEnv} is not valid: use development, production or test`)
  }
  const port = int(env, 'PORT', 3000, 0, 65535)
  const host = str(env, 'HOST') ?? '0.0.0.0'
  const dataDir = resolve(str(env, 'DATA_DIR') ?? './data')
  const audioFilesDir = resolve(str(env, 'AUDIO_FILES_DIR') ?? './uploads/audio')

  let jwtSecret = str(env, 'JWT_SECRET')
  const jwtSecretGenerated = jwtSecret === undefined
  if (jwtSecret === undefined) {
    if (nodeEnv === 'production') {
      throw new ConfigError('JWT_SECRET is required when NODE_ENV=production: set it to a long random string')
    }
    jwtSecret = developmentSecret(dataDir)
  } else if (jwtSecret.length < 16) {
    throw new ConfigError('JWT_SECRET is too short: use at least 16 characters (32 random bytes recommended)')
  }

  const bucket = str(env, 'S3_BUCKET')
  const s3: S3Config | undefined = bucket
    ? {
        endpoint: url(env, 'S3_ENDPOINT', ['http:', 'https:']),
        region: str(env, 'S3_REGION') ?? 'us-east-1',
        bucket,
        accessKeyId: str(env, 'S3_ACCESS_KEY_ID'),
        secretAccessKey: str(env, 'S3_SECRET_ACCESS_KEY'),
        forcePathStyle: bool(env, 'S3_FORCE_PATH_STYLE'),
      }
    : undefined

  const logLevel = (str(env, 'LOG_LEVEL') ?? 'info').toLowerCase()
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) {
    throw new ConfigError(`LOG_LEVEL=${logLevel} is not valid: use one of ${LOG_LEVELS.join(', ')}`)
  }

  const publicUrl = (url(env, 'PUBLIC_URL', ['http:', 'https:']) ?? `http://localhost:${port}`).replace(
    /\/+$/,
    '',
  )

  return {
    env: nodeEnv,
    port,
    host,
    dataDir,
    databaseUrl: url(env, 'DATABASE_URL', ['postgres:', 'postgresql:']),
    audioFilesDir,
    jwtSecret,
    jwtSecretGenerated,
    ingestApiKeys: (str(env, 'INGEST_API_KEYS') ?? '')
      .split(',')
      .map((k) => k.trim())
      .filter((k) => k !== ''),
    s3,
    signedUrlTtl: int(env, 'SIGNED_URL_TTL', 3600, 1, 7 * 24 * 3600),
    publicUrl,
    corsOrigins: (str(env, 'CORS_ORIGIN') ?? '*')
      .split(',')
      .map((o) => o.trim())
      .filter((o) => o !== ''),
    redisUrl: url(env, 'REDIS_URL', ['redis:', 'rediss:']),
    instanceId: instanceId(env),
    instanceUrl: instanceUrl(env, host, port),
    ingestRateLimit: int(env, 'INGEST_RATE_LIMIT', 1000, 1, 1_000_000),
    listenTimeoutS: int(env, 'LISTEN_TIMEOUT_S', 300, 0, 86_400),
    logLevel: logLevel as Config['logLevel'],
    ffmpegPath: str(env, 'FFMPEG_PATH') ?? 'ffmpeg',
    audiobooks: audiobookLimits(env),
    livestream: livestreamConfig(env),
    tracks: trackConfig(env, dataDir, audioFilesDir),
    calls: {
      uploadMaxBytes: int(env, 'CALL_UPLOAD_MAX_MB', 25, 1, 500) * MIB,
      maxSeconds: int(env, 'CALL_MAX_SECONDS', 600, 1, 4 * 3600),
      transcodeConcurrency: int(env, 'CALL_TRANSCODE_CONCURRENCY', 2, 1, 64),
      maxQueued: int(env, 'CALL_QUEUE_MAX', 100, 0, 100_000),
      transcoder: oneOf(env, 'CALL_TRANSCODER', ['native', 'ffmpeg'] as const, 'native'),
      opusComplexity: int(env, 'CALL_OPUS_COMPLEXITY', 3, 0, 10),
    },
  }
}

/** INSTANCE_URL as given, or HOST:PORT (a wildcard HOST: the loopback address, right for instances on one host). */
function instanceUrl(env: Env, host: string, port: number): string {
  const given = url(env, 'INSTANCE_URL', ['http:', 'https:'])
  if (given !== undefined) return given.replace(/\/+$/, '')
  const reachable = host === '0.0.0.0' || host === '' ? '127.0.0.1' : host === '::' ? '[::1]' : host
  return `http://${reachable.includes(':') && !reachable.startsWith('[') ? `[${reachable}]` : reachable}:${port}`
}

const INSTANCE_ID = /^[A-Za-z0-9._-]{1,64}$/

/** INSTANCE_ID as given, or the host name plus a random suffix (a restarted instance is a new member). */
function instanceId(env: Env): string {
  const given = str(env, 'INSTANCE_ID')
  if (given === undefined) {
    const host =
      hostname()
        .replace(/[^A-Za-z0-9._-]/g, '')
        .slice(0, 40) || 'airwave'
    return `${host}-${randomBytes(3).toString('hex')}`
  }
  if (!INSTANCE_ID.test(given)) {
    throw new ConfigError(`INSTANCE_ID=${given} is not valid: use 1 to 64 letters, digits, '.', '_' or '-'`)
  }
  return given
}

function trackConfig(env: Env, dataDir: string, audioFilesDir: string): TrackConfig {
  // Uploads are private to their owner: if the shared library folder overlapped them, everyone would see them.
  const uploadsDir = join(dataDir, 'uploads')
  const inside = (child: string, parent: string) => child === parent || child.startsWith(`${parent}/`)
  if (inside(audioFilesDir, uploadsDir) || inside(uploadsDir, audioFilesDir)) {
    throw new ConfigError(
      `AUDIO_FILES_DIR=${audioFilesDir} overlaps ${uploadsDir}, where private uploads are kept: use another folder`,
    )
  }
  // The server's own body limit (main.ts) is 2 GiB; an upload must fit under it with its multipart framing.
  const accelRedirectPrefix = str(env, 'TRACK_ACCEL_REDIRECT')
  if (accelRedirectPrefix !== undefined && !/^\/[A-Za-z0-9._~/-]*\/$/.test(accelRedirectPrefix)) {
    throw new ConfigError(
      `TRACK_ACCEL_REDIRECT=${accelRedirectPrefix} is not valid: use a path that starts and ends with "/", e.g. /_airwave_files/`,
    )
  }
  return { uploadMaxBytes: int(env, 'TRACK_UPLOAD_MAX_MB', 200, 1, 2000) * MIB, accelRedirectPrefix }
}

function audiobookLimits(env: Env): AudiobookLimits {
  // The server's own body limit (main.ts) is 2 GiB; the whole upload must fit under it with its multipart framing.
  const maxTotalMb = int(env, 'AUDIOBOOK_MAX_TOTAL_MB', 2000, 1, 2000)
  const maxFileMb = int(env, 'AUDIOBOOK_MAX_FILE_MB', 500, 1, 2000)
  if (maxFileMb > maxTotalMb) {
    throw new ConfigError(
      `AUDIOBOOK_MAX_FILE_MB=${maxFileMb} is larger than AUDIOBOOK_MAX_TOTAL_MB=${maxTotalMb}: lower it or raise the total`,
    )
  }
  return {
    maxFileBytes: maxFileMb * MIB,
    maxTotalBytes: maxTotalMb * MIB,
    maxChapters: int(env, 'AUDIOBOOK_MAX_CHAPTERS', 200, 1, 1000),
    concurrency: int(env, 'AUDIOBOOK_CONCURRENCY', 2, 1, 64),
    claimTtlSeconds: int(env, 'AUDIOBOOK_CLAIM_TTL_S', 30, 2, 3600),
  }
}

function livestreamConfig(env: Env): LivestreamConfig {
  const x264Preset = str(env, 'LIVESTREAM_X264_PRESET') ?? 'veryfast'
  if (!(X264_PRESETS as readonly string[]).includes(x264Preset)) {
    throw new ConfigError(
      `LIVESTREAM_X264_PRESET=${x264Preset} is not valid: use one of ${X264_PRESETS.join(', ')}`,
    )
  }
  return {
    segmentSeconds: int(env, 'LIVESTREAM_SEGMENT_SECONDS', 2, 1, 30),
    maxRestarts: int(env, 'LIVESTREAM_MAX_RESTARTS', 3, 0, 100),
    graceSeconds: int(env, 'LIVESTREAM_GRACE_S', 15, 0, 3600),
    sharedSegments: int(env, 'LIVESTREAM_SHARED_SEGMENTS', 15, 2, 1000),
    retentionSeconds: int(env, 'LIVESTREAM_RETENTION_S', 3600, 0, 30 * 24 * 3600),
    x264Preset,
    connectionsPerMinute: int(env, 'LIVESTREAM_CONNECTIONS_PER_MIN', 10, 1, 1_000_000),
    // 64 MiB/min is about 9 Mbit/s: a 720p MediaRecorder stream (about 2.5 Mbit/s) with ample headroom.
    dataBytesPerMinute: int(env, 'LIVESTREAM_DATA_BYTES_PER_MIN', 64 * 1024 * 1024, 1024, 2 ** 40),
    eventsPerMinute: int(env, 'LIVESTREAM_EVENTS_PER_MIN', 100, 1, 1_000_000),
    // 50 chunks/s: 100 ms timeslices (10/s) with room for bursts after a stalled connection.
    chunksPerMinute: int(env, 'LIVESTREAM_CHUNKS_PER_MIN', 3000, 1, 1_000_000),
    httpGeneralPerMinute: int(env, 'LIVESTREAM_HTTP_GENERAL_PER_MIN', 100, 1, 1_000_000),
    httpStreamPerMinute: int(env, 'LIVESTREAM_HTTP_STREAM_PER_MIN', 1000, 1, 1_000_000),
    httpStatusPerMinute: int(env, 'LIVESTREAM_HTTP_STATUS_PER_MIN', 60, 1, 1_000_000),
  }
}
