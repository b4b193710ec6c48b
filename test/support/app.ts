import { join } from 'node:path'
import { closeServices, createServices, type Services } from '../../src/app-services.ts'
import { loadConfig } from '../../src/config.ts'
import { createApp } from '../../src/server.ts'
import { TEST_JWT_SECRET } from './server.ts'
import { tempDir } from './tmp.ts'

export interface InProcessApp {
  services: Services
  url: string
  token(sub: string, options?: { role?: 'admin' }): Promise<string>
  close(): Promise<void>
}

/**
 * The real app in this process (in-memory PGlite, temp DATA_DIR) listening on port 0, for tests that need
 * to reach into services (e.g. spawn actors of a test kind) while talking HTTP to it.
 */
export async function startInProcessApp(env: Record<string, string> = {}): Promise<InProcessApp> {
  const data = tempDir('airwave-app-')
  const config = loadConfig({
    DATA_DIR: data.path,
    // The track library watches its folder: keep it inside the temp dir, never the repository's ./uploads.
    AUDIO_FILES_DIR: join(data.path, 'audio'),
    JWT_SECRET: TEST_JWT_SECRET,
    NODE_ENV: 'test',
    ...env,
  })
  const services = await createServices(config, { inMemoryDatabase: true })
  const app = createApp(services).listen({ port: 0, hostname: '127.0.0.1', reusePort: false })
  const port = app.server?.port
  return {
    services,
    url: `http://127.0.0.1:${port}`,
    token: (sub, options = {}) => services.tokens.sign({ userId: sub, role: options.role }, 3600),
    async close() {
      services.sse.closeAll()
      services.realtime.closeAll()
      await app.stop(true)
      await closeServices(services)
      data.remove()
    },
  }
}
