/** Real nginx (Debian's) in front of Airwave, configured with the deployment's own template (deploy/nginx/). */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Subprocess } from 'bun'
import { freePort } from './audio.ts'
import { REPO_ROOT } from './server.ts'
import { tempDir } from './tmp.ts'

export const NGINX_PATH = process.env.NGINX_PATH ?? '/usr/sbin/nginx'
export const NGINX_TEMPLATE = join(REPO_ROOT, 'deploy/nginx/airwave.conf.template')

/** The template with every `${NAME}` replaced; a name without a value is an error, never left in. */
export function renderTemplate(template: string, values: Record<string, string>): string {
  return template.replace(/\$\{([A-Z_]+)\}/g, (_, name: string) => {
    const value = values[name]
    if (value === undefined) throw new Error(`no value for \${${name}} in the nginx template`)
    return value
  })
}

export interface RunningNginx {
  url: string
  /** nginx runs as one process here (no master), so this is all of its CPU. */
  pid: number
  stop(): Promise<void>
}

/** Starts nginx on a free port in front of `upstreams` (host:port), serving the internal locations from the folders. */
export async function startNginx(options: {
  upstreams: string[]
  audioDir: string
  uploadsDir: string
}): Promise<RunningNginx> {
  const dir = tempDir('airwave-nginx-')
  const port = freePort()
  const site = renderTemplate(readFileSync(NGINX_TEMPLATE, 'utf8'), {
    AIRWAVE_UPSTREAM_SERVERS: options.upstreams.map((u) => `server ${u};`).join(' '),
    NGINX_LISTEN: `127.0.0.1:${port}`,
    AIRWAVE_AUDIO_DIR: options.audioDir,
    AIRWAVE_UPLOADS_DIR: options.uploadsDir,
    AIRWAVE_CACHE_DIR: join(dir.path, 'stream-checks'),
  })
  writeFileSync(join(dir.path, 'airwave.conf'), site)
  for (const sub of ['body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) mkdirSync(join(dir.path, sub))
  writeFileSync(
    join(dir.path, 'nginx.conf'),
    `daemon off;
master_process off;
worker_processes 1;
pid ${dir.path}/nginx.pid;
error_log ${dir.path}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  include /etc/nginx/mime.types;
  client_body_temp_path ${dir.path}/body;
  proxy_temp_path ${dir.path}/proxy;
  fastcgi_temp_path ${dir.path}/fastcgi;
  uwsgi_temp_path ${dir.path}/uwsgi;
  scgi_temp_path ${dir.path}/scgi;
  include ${dir.path}/airwave.conf;
}
`,
  )
  const proc: Subprocess = Bun.spawn([NGINX_PATH, '-c', join(dir.path, 'nginx.conf'), '-p', dir.path], {
    stdout: 'ignore',
    stderr: 'pipe',
  })
  const url = `http://127.0.0.1:${port}`
  const deadline = Date.now() + 10_000
  for (;;) {
    const up = await fetch(`${url}/health`).then(
      () => true,
      () => false,
    )
    if (up) break
    if (proc.exitCode !== null || Date.now() > deadline)
      throw new Error(`nginx did not start: ${await new Response(proc.stderr as ReadableStream).text()}`)
    await Bun.sleep(50)
  }
  return {
    url,
    pid: proc.pid,
    stop: async () => {
      proc.kill()
      await proc.exited
      dir.remove()
    },
  }
}
