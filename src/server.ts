import { join } from 'node:path'
import { openapi } from '@elysiajs/openapi'
import { Elysia } from 'elysia'
import type { Services } from './app-services.ts'
import { audiobookRoutes } from './audiobooks/routes.ts'
import { blobRoutes } from './blobs/routes.ts'
import { callRoutes } from './calls/routes.ts'
import { healthRoutes } from './health/routes.ts'
import { corsPlugin, corsPolicy } from './http/cors.ts'
import { errorHandler } from './http/error-handler.ts'
import { inputGuard } from './http/input-guard.ts'
import type { Fetch } from './http/native-route.ts'
import { requestLog } from './http/request-log.ts'
import { apiKeyRoutes } from './identity/routes.ts'
import { inspectorRoutes } from './inspector/routes.ts'
import { livestreamPages } from './livestream/pages.ts'
import { livestreamRoutes } from './livestream/routes.ts'
import { ffmpegVersion } from './platform/ffmpeg.ts'
import { nativeVersion } from './platform/native.ts'
import { LocalBlobStore } from './platform/storage/local-blob-store.ts'
import { playbackRoutes } from './playback/routes.ts'
import { radioRoutes } from './radio/routes.ts'
import { trackRoutes } from './tracks/routes.ts'
import { trackStreamRoutes } from './tracks/stream-route.ts'
import { webRoutes } from './web/routes.ts'

/** Composes the feature plugins into the app (and the native routes Bun serves ahead of it); nothing else. */
export function createApp(services: Services) {
  const { config } = services
  const cors = corsPolicy(config.corsOrigins)
  // The track stream paths are served by Bun's router ahead of Elysia (see src/tracks/stream-route.ts); what they
  // pass on comes back to this app.
  let elysia: Fetch | undefined
  const streamRoutes = trackStreamRoutes({
    tokens: services.tokens,
    tracks: services.tracks,
    cors,
    elysia: (request) => (elysia as Fetch)(request),
  })
  const app = new Elysia({ serve: { routes: streamRoutes } })
    .use(errorHandler)
    .use(inputGuard)
    .use(requestLog)
    .use(corsPlugin(cors))
    .use(
      openapi({
        path: '/openapi',
        specPath: '/openapi/json',
        // The UI bundles load from a CDN; Airwave must work offline, so only the JSON is served.
        provider: null,
        documentation: { info: { title: 'Airwave', version: '0.1.0' } },
      }),
    )
    .use(
      healthRoutes({
        env: config.env,
        cluster: () => services.cluster.status(),
        checks: {
          database: async () => {
            await services.database.ping()
            return services.database.description
          },
          storage: async () => {
            await services.blobs.check()
            return services.blobs.kind
          },
          ffmpeg: () => ffmpegVersion(config.ffmpegPath),
          native: async () => nativeVersion(),
          radio: () => services.radio.history.check(),
        },
      }),
    )
    .use(apiKeyRoutes(services.tokens, services.apiKeys))
    .use(inspectorRoutes(services))
    .use(audiobookRoutes(services.tokens, services.audiobooks))
    .use(playbackRoutes(services.tokens, services.playback))
    .use(radioRoutes(services.radio, services.blobs, config.publicUrl))
    .use(callRoutes(services.calls, join(config.dataDir, 'staging', 'calls'), config.calls.uploadMaxBytes))
    .use(trackRoutes(services.tokens, services.tracks))
    .use(webRoutes)
    .use(
      livestreamRoutes({
        service: services.livestream,
        limits: services.livestreamLimits,
        tokens: services.tokens,
        publicUrl: config.publicUrl,
        forwarder: services.forwarder,
      }),
    )
    .use(livestreamPages)
    .use(services.gateway.plugin())
    .use(services.socketIo.plugin())
  if (services.blobs instanceof LocalBlobStore) app.use(blobRoutes(services.blobs, services.urlSigner))
  elysia = app.fetch
  return app
}

export type App = ReturnType<typeof createApp>
