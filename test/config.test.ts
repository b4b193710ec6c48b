import { describe, expect, test } from 'bun:test'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { ConfigError, loadConfig } from '../src/config.ts'
import { REPO_ROOT } from './support/server.ts'
import { tempDir } from './support/tmp.ts'

const SECRET = { JWT_SECRET: 'x'.repeat(32) }

describe('loadConfig', () => {
  test('defaults match CONTRACT.md', () => {
    const dir = tempDir()
    const config = loadConfig({ DATA_DIR: dir.path, ...SECRET })
    expect(config.port).toBe(3000)
    expect(config.host).toBe('0.0.0.0')
    expect(config.databaseUrl).toBeUndefined()
    expect(config.s3).toBeUndefined()
    expect(config.signedUrlTtl).toBe(3600)
    expect(config.publicUrl).toBe('http://localhost:3000')
    expect(config.corsOrigins).toEqual(['*'])
    expect(config.ingestRateLimit).toBe(1000)
    expect(config.listenTimeoutS).toBe(300)
    expect(config.logLevel).toBe('info')
    expect(config.ffmpegPath).toBe('ffmpeg')
    expect(config.audioFilesDir.endsWith('uploads/audio')).toBe(true)
    expect(config.calls).toMatchObject({ transcoder: 'native', opusComplexity: 3, transcodeConcurrency: 2 })
    dir.remove()
  })

  test('reads every variable', () => {
    const config = loadConfig({
      PORT: '8080',
      HOST: '127.0.0.1',
      DATA_DIR: '/tmp/aw',
      DATABASE_URL: 'postgres://u:p@db:5432/air',
      AUDIO_FILES_DIR: '/music',
      JWT_SECRET: 's'.repeat(20),
      INGEST_API_KEYS: 'k1, k2,,',
      S3_ENDPOINT: 'http://127.0.0.1:9000',
      S3_REGION: 'eu-west-1',
      S3_BUCKET: 'b',
      S3_ACCESS_KEY_ID: 'id',
      S3_SECRET_ACCESS_KEY: 'secret',
      S3_FORCE_PATH_STYLE: 'true',
      SIGNED_URL_TTL: '60',
      PUBLIC_URL: 'https://radio.example.org/',
      CORS_ORIGIN: 'https://a.example, https://b.example',
      REDIS_URL: 'redis://127.0.0.1:6379',
      INGEST_RATE_LIMIT: '10',
      LISTEN_TIMEOUT_S: '0',
      LOG_LEVEL: 'debug',
      FFMPEG_PATH: '/opt/ffmpeg',
      NODE_ENV: 'production',
      CALL_TRANSCODER: 'FFmpeg',
      CALL_OPUS_COMPLEXITY: '10',
    })
    expect(config).toMatchObject({
      port: 8080,
      host: '127.0.0.1',
      dataDir: '/tmp/aw',
      databaseUrl: 'postgres://u:p@db:5432/air',
      audioFilesDir: '/music',
      ingestApiKeys: ['k1', 'k2'],
      s3: {
        endpoint: 'http://127.0.0.1:9000',
        region: 'eu-west-1',
        bucket: 'b',
        accessKeyId: 'id',
        secretAccessKey: 'secret',
        forcePathStyle: true,
      },
      signedUrlTtl: 60,
      publicUrl: 'https://radio.example.org',
      corsOrigins: ['https://a.example', 'https://b.example'],
      redisUrl: 'redis://127.0.0.1:6379',
      ingestRateLimit: 10,
      listenTimeoutS: 0,
      logLevel: 'debug',
      ffmpegPath: '/opt/ffmpeg',
      env: 'production',
      jwtSecretGenerated: false,
      calls: { transcoder: 'ffmpeg', opusComplexity: 10 },
    })
  })

  test.each([
    [{ PORT: 'abc' }, 'PORT=abc is not valid'],
    [{ PORT: '70000' }, 'PORT=70000 is not valid'],
    [{ DATABASE_URL: 'mysql://x' }, 'DATABASE_URL must start with postgres:'],
    [{ DATABASE_URL: 'not a url' }, 'DATABASE_URL is not a valid URL'],
    [{ SIGNED_URL_TTL: '-5' }, 'SIGNED_URL_TTL=-5 is not valid'],
    [{ LOG_LEVEL: 'loud' }, 'LOG_LEVEL=loud is not valid'],
    [{ S3_BUCKET: 'b', S3_FORCE_PATH_STYLE: 'yes' }, 'S3_FORCE_PATH_STYLE=yes is not valid'],
    [{ NODE_ENV: 'staging' }, 'NODE_ENV=staging is not valid'],
    [{ NODE_ENV: 'production', JWT_SECRET: '' }, 'JWT_SECRET is required when NODE_ENV=production'],
    [{ JWT_SECRET: 'short' }, 'JWT_SECRET is too short'],
    [{ REDIS_URL: 'http://x' }, 'REDIS_URL must start with redis:'],
    [{ CALL_TRANSCODER: 'gstreamer' }, 'CALL_TRANSCODER=gstreamer is not valid: use one of native, ffmpeg'],
    [{ CALL_OPUS_COMPLEXITY: '11' }, 'CALL_OPUS_COMPLEXITY=11 is not valid'],
  ])('%o is refused with a message that says what to fix', (env, message) => {
    expect(() => loadConfig({ ...SECRET, DATA_DIR: '/tmp/aw-never', ...env })).toThrow(ConfigError)
    expect(() => loadConfig({ ...SECRET, DATA_DIR: '/tmp/aw-never', ...env })).toThrow(message)
  })

  test('development generates a JWT secret into DATA_DIR once and reuses it', () => {
    const dir = tempDir()
    const first = loadConfig({ DATA_DIR: dir.path })
    expect(first.jwtSecretGenerated).toBe(true)
    expect(existsSync(join(dir.path, 'jwt-secret'))).toBe(true)
    expect(readFileSync(join(dir.path, 'jwt-secret'), 'utf8').trim()).toBe(first.jwtSecret)
    expect(loadConfig({ DATA_DIR: dir.path }).jwtSecret).toBe(first.jwtSecret)
    dir.remove()
  })
})

describe('bad settings at startup', () => {
  const start = async (env: Record<string, string>) => {
    const dir = tempDir()
    const proc = Bun.spawn(['bun', 'src/main.ts'], {
      cwd: REPO_ROOT,
      env: { ...process.env, DATA_DIR: dir.path, LOG_LEVEL: 'silent', ...env },
      stdout: 'pipe',
      stderr: 'pipe',
    })
    const [stderr, code] = await Promise.all([new Response(proc.stderr).text(), proc.exited])
    dir.remove()
    return { stderr: stderr.trim(), code }
  }

  test('PORT=abc exits with one clear line, no stack trace', async () => {
    const { stderr, code } = await start({ PORT: 'abc' })
    expect(code).toBe(1)
    expect(stderr).toBe('airwave: PORT=abc is not valid: set it to a whole number from 0 to 65535')
  })

  test('an unreachable DATABASE_URL exits with one clear line', async () => {
    const { stderr, code } = await start({ PORT: '0', DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none' })
    expect(code).toBe(1)
    expect(stderr.split('\n')).toHaveLength(1)
    expect(stderr).toStartWith('airwave: DATABASE_URL postgres://nobody@127.0.0.1:1/none is unreachable')
    expect(stderr).toContain('start PostgreSQL or fix the URL')
  })
})
