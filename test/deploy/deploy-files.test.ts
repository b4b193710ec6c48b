/**
 * Docker does not run here: the deployment files are checked by reading them. The nginx template is also what the
 * nginx-fronted tests run (test/support/nginx.ts), so its syntax is checked by nginx itself there and in `nginx -t`.
 */
import { describe, expect, test } from 'bun:test'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { NGINX_PATH, NGINX_TEMPLATE, renderTemplate } from '../support/nginx.ts'
import { REPO_ROOT } from '../support/server.ts'
import { tempDir } from '../support/tmp.ts'

const read = (path: string) => readFileSync(join(REPO_ROOT, path), 'utf8')
const templateNames = () => [
  ...new Set([...read('deploy/nginx/airwave.conf.template').matchAll(/\$\{([A-Z_]+)\}/g)].map((m) => m[1])),
]

describe('deploy/compose.yaml', () => {
  const compose = Bun.YAML.parse(read('deploy/compose.yaml')) as {
    services: Record<
      string,
      { environment?: Record<string, string>; volumes?: string[]; build?: { dockerfile: string } }
    >
  }
  const instances = Object.entries(compose.services).filter(([name]) => name.startsWith('airwave-'))

  test('three instances of the image, each with PostgreSQL, Redis, S3, nginx file handoff and its own id and address', () => {
    expect(instances.map(([name]) => name)).toEqual(['airwave-1', 'airwave-2', 'airwave-3'])
    for (const [name, service] of instances) {
      expect(service.build?.dockerfile).toBe('deploy/Dockerfile')
      const env = service.environment ?? {}
      expect(env.DATABASE_URL).toStartWith('postgres://')
      expect(env.REDIS_URL).toStartWith('redis://')
      expect(env.S3_BUCKET).toBe('airwave')
      expect(env.S3_ENDPOINT).toBe('http://minio:9000')
      expect(env.TRACK_ACCEL_REDIRECT).toBe('/_airwave_files/')
      expect(env.INSTANCE_ID).toBe(name)
      // The others reach it there (LL-HLS requests are forwarded to the stream's instance).
      expect(env.INSTANCE_URL).toBe(`http://${name}:3000`)
      expect(env.JWT_SECRET).toContain('JWT_SECRET')
    }
    for (const backing of ['postgres', 'redis', 'minio', 'nginx'])
      expect(compose.services[backing]).toBeDefined()
  })

  test('nginx gets the template and a value for every placeholder in it, round-robin over the three instances', () => {
    const nginx = compose.services.nginx
    const env = nginx?.environment ?? {}
    for (const name of templateNames()) {
      expect(env[name as string]).toBeDefined()
    }
    expect(env.AIRWAVE_UPSTREAM_SERVERS).toBe(
      'server airwave-1:3000; server airwave-2:3000; server airwave-3:3000;',
    )
    expect(nginx?.volumes).toContain(
      './nginx/airwave.conf.template:/etc/nginx/templates/airwave.conf.template:ro',
    )
  })
})

describe('deploy/Dockerfile', () => {
  const dockerfile = read('deploy/Dockerfile')
  const instructions = dockerfile
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'))

  test('multi-stage: the addon is built in its own stage and copied in; the server runs as a non-root user', () => {
    const stages = instructions.filter((line) => line.startsWith('FROM '))
    expect(stages.length).toBeGreaterThanOrEqual(3)
    expect(stages[0]).toMatch(/^FROM rust:.* AS native$/)
    expect(instructions).toContain('COPY --from=native /airwave-native.node native/airwave-native.node')
    const lastFrom = instructions.lastIndexOf(stages.at(-1) as string)
    const user = instructions.findIndex((line, i) => i > lastFrom && line.startsWith('USER '))
    expect(user).toBeGreaterThan(lastFrom)
    expect(instructions[user]).not.toMatch(/USER (root|0)\b/)
    expect(instructions.at(-1)).toBe('CMD ["bun", "src/main.ts"]')
    expect(dockerfile).toContain(`oven/bun:${JSON.parse(read('package.json')).engines.bun}-debian`)
  })

  test('every path it copies from the repository exists', () => {
    for (const line of instructions.filter((l) => l.startsWith('COPY ') && !l.includes('--from='))) {
      const sources = line.split(/\s+/).slice(1, -1)
      for (const source of sources) expect(existsSync(join(REPO_ROOT, source))).toBe(true)
    }
  })
})

describe('deploy/nginx/airwave.conf.template', () => {
  test('renders with the compose values and passes `nginx -t`', async () => {
    const dir = tempDir('airwave-nginx-t-')
    try {
      const site = renderTemplate(readFileSync(NGINX_TEMPLATE, 'utf8'), {
        AIRWAVE_UPSTREAM_SERVERS: 'server 127.0.0.1:3001; server 127.0.0.1:3002; server 127.0.0.1:3003;',
        NGINX_LISTEN: '127.0.0.1:18080',
        AIRWAVE_AUDIO_DIR: dir.path,
        AIRWAVE_UPLOADS_DIR: dir.path,
        AIRWAVE_CACHE_DIR: join(dir.path, 'cache'),
      })
      writeFileSync(join(dir.path, 'site.conf'), site)
      mkdirSync(join(dir.path, 'logs'))
      writeFileSync(
        join(dir.path, 'nginx.conf'),
        `pid ${dir.path}/nginx.pid; error_log ${dir.path}/error.log; events {} http { access_log off; include ${dir.path}/site.conf; }`,
      )
      const check = Bun.spawnSync([NGINX_PATH, '-t', '-c', join(dir.path, 'nginx.conf'), '-p', dir.path], {
        stderr: 'pipe',
      })
      expect(check.stderr.toString()).toContain('syntax is ok')
      expect(check.exitCode).toBe(0)
    } finally {
      dir.remove()
    }
  })

  test('a placeholder without a value is an error, never left in the config', () => {
    const placeholder = ['$', '{NGINX_LISTEN}'].join('')
    expect(() => renderTemplate(`listen ${placeholder};`, {})).toThrow(`no value for ${placeholder}`)
  })
})
