import { join } from 'node:path'
import { AudiobookService } from './audiobooks/service.ts'
import { LocalCallClaims, RedisCallClaims } from './calls/claims.ts'
import { CallService } from './calls/service.ts'
import { Cluster } from './cluster/cluster.ts'
import { InstanceForwarder } from './cluster/instance-forward.ts'
import type { Config } from './config.ts'
import { SseRegistry } from './http/sse.ts'
import { ApiKeyService } from './identity/api-keys.ts'
import { TokenService } from './identity/tokens.ts'
import { InspectionFeed } from './inspector/inspection-feed.ts'
import { LocalLivestreamDirectory } from './livestream/directory.ts'
import { LivestreamLimits } from './livestream/limits.ts'
import { RedisLivestreamDirectory } from './livestream/redis-directory.ts'
import { LivestreamService, LL_MAX_WAITERS_PER_STREAM } from './livestream/service.ts'
import { registerLivestreamSocket } from './livestream/socket.ts'
import { ActorRegistry } from './platform/actors/registry.ts'
import { type Database, openDatabase } from './platform/db/index.ts'
import { gaugeSources } from './platform/metrics.ts'
import { RateLimits } from './platform/rate-limit.ts'
import type { BlobStore } from './platform/storage/blob-store.ts'
import { createBlobStore } from './platform/storage/index.ts'
import { UrlSigner } from './platform/storage/url-signer.ts'
import { RedisSessionSync } from './playback/redis-session-sync.ts'
import { PlaybackService } from './playback/service.ts'
import { LocalSessionSync, type SessionSync } from './playback/session-sync.ts'
import { registerPlaybackSocket } from './playback/socket.ts'
import { SessionStore } from './playback/store.ts'
import { LocalRadioBus } from './radio/bus.ts'
import { LocalListenerTally, RedisListenerTally } from './radio/listener-tally.ts'
import { RedisRadioBus } from './radio/redis-bus.ts'
import { RadioService } from './radio/service.ts'
import { Dispatcher } from './realtime/dispatcher.ts'
import { RedisRoomBroker } from './realtime/redis-rooms.ts'
import { LocalRoomBroker } from './realtime/rooms.ts'
import { SocketIoGateway } from './socketio/gateway.ts'
import { TrackService } from './tracks/service.ts'
import { WsGateway } from './ws/gateway.ts'

/** Everything long-lived the features share, built once from the config. */
export interface Services {
  config: Config
  database: Database
  tokens: TokenService
  apiKeys: ApiKeyService
  blobs: BlobStore
  urlSigner: UrlSigner
  registry: ActorRegistry
  /** The realtime events of every feature, whatever the transport: handlers, validation, limits, rooms. */
  realtime: Dispatcher
  /** `/ws`: the dispatcher over plain WebSocket with JSON envelopes. */
  gateway: WsGateway
  /** `/socket.io/`: the dispatcher over Socket.IO v4. */
  socketIo: SocketIoGateway
  /** Every open SSE stream, closed together at shutdown. */
  sse: SseRegistry
  /** Sees every actor of the registry from its creation on, for the inspector. */
  inspector: InspectionFeed
  rateLimits: RateLimits
  /** This instance in the cluster: membership, leases, the Redis link (a single node without REDIS_URL). */
  cluster: Cluster
  /** In a cluster: passes a request to the instance holding the state it needs (LL-HLS); undefined alone. */
  forwarder: InstanceForwarder | undefined
  /** Audiobook jobs (their `job` actors are defined on `registry`). */
  audiobooks: AudiobookService
  /** Live radio: slot actors, SSE channels, transmission history. */
  radio: RadioService
  /** Scanner calls from trunk-recorder, SDRTrunk and OpenMHz uploaders, delivered on the radio's system channels. */
  calls: CallService
  /** Livestreams: one actor per stream key, FFmpeg children, HLS files under DATA_DIR/livestream. */
  livestream: LivestreamService
  livestreamLimits: LivestreamLimits
  /**
   * The track catalog (a `TrackCatalog`): AUDIO_FILES_DIR, scanned and watched, plus each user's uploads.
   * Playback sessions look tracks up through `find`/`list` only.
   */
  tracks: TrackService
  /** Playback sessions: one actor per user, saved in `playback_sessions`, announced to the user's sockets. */
  playback: PlaybackService
}

/** Local signed URLs use their own key, derived from JWT_SECRET, so a URL signature can never pass as a token's. */
async function deriveKey(secret: string, purpose: string): Promise<string> {
  const key = await crypto.subtle.importKey(
    'raw',
    new TextEncoder().encode(secret),
    { name: 'HMAC', hash: 'SHA-256' },
    false,
    ['sign'],
  )
  const derived = await crypto.subtle.sign('HMAC', key, new TextEncoder().encode(purpose))
  return Buffer.from(derived).toString('base64url')
}

/** Opens the database (applying migrations), storage and Redis, and makes the shared services. */
export async function createServices(
  config: Config,
  options: { inMemoryDatabase?: boolean } = {},
): Promise<Services> {
  const database = await openDatabase({
    databaseUrl: config.databaseUrl,
    pgliteDir: options.inMemoryDatabase ? undefined : join(config.dataDir, 'db'),
  })
  const tokens = new TokenService(config.jwtSecret)
  const urlSigner = new UrlSigner(await deriveKey(config.jwtSecret, 'airwave blob urls'))
  const blobs = createBlobStore({
    rootDir: join(config.dataDir, 'blobs'),
    publicBaseUrl: config.publicUrl,
    signer: urlSigner,
    s3: config.s3,
  })
  const cluster = Cluster.fromConfig(config)
  const apiKeys = new ApiKeyService(database.db, config.ingestApiKeys)
  const registry = new ActorRegistry()
  const inspector = new InspectionFeed(registry)
  const sse = new SseRegistry()
  // One instance's rooms, or the cluster's through Redis pub/sub; nothing else knows which.
  const rooms = cluster.redis ? new RedisRoomBroker(cluster.instanceId, cluster.redis) : new LocalRoomBroker()
  const realtime = new Dispatcher(tokens, rooms)
  const rateLimits = new RateLimits(cluster.redis?.commands)
  gaugeSources.actorsByKind = () => inspector.countsByKind()
  gaugeSources.transitionRatesByKind = () => inspector.transitionRates()
  gaugeSources.sseStreams = () => sse.size
  const audiobooks = await AudiobookService.start({
    db: database.db,
    blobs,
    registry,
    dataDir: config.dataDir,
    ffmpegPath: config.ffmpegPath,
    signedUrlTtl: config.signedUrlTtl,
    limits: config.audiobooks,
    instanceId: cluster.instanceId,
    cluster: cluster.redis !== undefined,
  })
  const tracks = await TrackService.start({
    db: database.db,
    dataDir: config.dataDir,
    audioFilesDir: config.audioFilesDir,
    limits: config.tracks,
  })
  // One instance's streams, or the cluster's through Redis (leases, records, control, shared HLS).
  const livestreamDirectory = cluster.redis
    ? new RedisLivestreamDirectory({
        instanceId: cluster.instanceId,
        link: cluster.redis,
        leases: cluster.leases,
        sharedSegments: config.livestream.sharedSegments,
        retentionMs: Math.min(config.livestream.retentionSeconds, 3600) * 1000,
      })
    : new LocalLivestreamDirectory(cluster.instanceId)
  const livestream = new LivestreamService(config, registry, realtime, undefined, livestreamDirectory)
  const livestreamLimits = new LivestreamLimits(rateLimits, config.livestream)
  registerLivestreamSocket(realtime, livestream, livestreamLimits)
  const sessions = new SessionStore(database.db)
  let sessionSync: SessionSync = new LocalSessionSync()
  if (cluster.redis) {
    const shared = new RedisSessionSync({
      instanceId: cluster.instanceId,
      link: cluster.redis,
      membership: cluster.membership,
      persist: (saved) => sessions.writeNow(saved),
    })
    await shared.start()
    sessionSync = shared
  }
  const playback = new PlaybackService(registry, sessions, tracks, realtime, { sync: sessionSync })
  registerPlaybackSocket(realtime, playback)
  const radio = new RadioService({
    config,
    registry,
    sse,
    db: database.db,
    blobs,
    apiKeys,
    rateLimits,
    bus: cluster.redis ? new RedisRadioBus(cluster.leases, cluster.redis) : new LocalRadioBus(),
    tally: cluster.redis
      ? new RedisListenerTally(cluster.redis, cluster.membership)
      : new LocalListenerTally(),
  })
  return {
    config,
    database,
    tokens,
    apiKeys,
    blobs,
    urlSigner,
    registry,
    inspector,
    realtime,
    gateway: new WsGateway(realtime),
    socketIo: new SocketIoGateway(realtime),
    sse,
    rateLimits,
    cluster,
    forwarder: cluster.redis
      ? new InstanceForwarder({
          instanceId: cluster.instanceId,
          secret: config.jwtSecret,
          membership: cluster.membership,
          // The owner answers a blocking reload within 3 target durations; a part or playlist is small.
          timeoutMs: 4 * config.livestream.segmentSeconds * 1000 + 5000,
          maxBodyBytes: 32 * 1024 * 1024,
          maxInFlight: 4 * LL_MAX_WAITERS_PER_STREAM,
        })
      : undefined,
    audiobooks,
    radio,
    calls: new CallService({
      radio,
      apiKeys,
      ffmpegPath: config.ffmpegPath,
      stagingDir: join(config.dataDir, 'staging', 'calls'),
      publicUrl: config.publicUrl,
      limits: config.calls,
      claims: cluster.redis ? new RedisCallClaims(cluster.redis) : new LocalCallClaims(),
    }),
    livestream,
    livestreamLimits,
    tracks,
    playback,
  }
}

/** Closes what `createServices` opened, in reverse order. */
export async function closeServices(services: Services): Promise<void> {
  await services.registry.shutdown()
  await services.livestream.close()
  await services.audiobooks.close()
  await services.playback.close()
  services.inspector.stop()
  await services.radio.close()
  services.calls.close()
  await services.tracks.close()
  await services.cluster.close()
  await services.database.close()
}
