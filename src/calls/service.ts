import { mkdir, readFile, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { OpusChunk } from '../../actors/transmission.machine.ts'
import type { CallConfig } from '../config.ts'
import { type ApiKeyService, grantAllows, type KeyGrant, keyCheckFailure } from '../identity/api-keys.ts'
import { outageUnlessInvalidValue } from '../platform/db/faults.ts'
import { AppError, ServiceUnavailableError, UnsupportedMediaTypeError } from '../platform/errors.ts'
import { UnreadableAudioError } from '../platform/ffprobe.ts'
import { log } from '../platform/log.ts'
import { classifyChunk, OggDemuxer } from '../platform/native.ts'
import { transcodeToOpusVoice } from '../platform/opus-transcode.ts'
import { ProcessingSlots } from '../platform/processing-slots.ts'
import { type VoiceResult, VoiceTranscoders } from '../platform/voice-workers.ts'
import { chunkEvent, endEvent, startEvent } from '../radio/events.ts'
import { recordingKey } from '../radio/history.ts'
import { callFields } from '../radio/history-item.ts'
import { isOpusHeaderPacket, RecordingWriter } from '../radio/recording.ts'
import type { RadioService } from '../radio/service.ts'
import { type CallClaims, DUPLICATE_WINDOW_MS } from './claims.ts'
import { callMetrics } from './metrics.ts'
import type { CallUpload } from './model.ts'

/** Uploads of the same system and talkgroup that start this close together are one call (as rdio-scanner). */
/** A transcode that takes longer than this is given up (a 10 min call takes a few seconds). */
const TRANSCODE_TIMEOUT_MS = 60_000
/** Opus at 16 kbit/s for CALL_MAX_SECONDS, with room for Ogg framing. */
const opusBytesFor = (seconds: number) => Math.ceil(seconds * 2000 * 1.5) + 64 * 1024
/** Call audio's Opus bit rate: 16 kbit/s voice. */
const VOICE_BITRATE = 16_000

export type ImportOutcome =
  | { duplicate: true; transmissionId: string }
  | { duplicate: false; transmissionId: string }

/** `c{system}_tg{talkgroup}_{YYYYMMDDHHMMSSmmm}` (UTC): stable, and unique outside the duplicate window. */
export function callIdFor(system: number, talkgroup: number, startedAt: number): string {
  const stamp = new Date(startedAt)
    .toISOString()
    .slice(0, 23)
    .replace(/[-T:.]/g, '')
  return `c${system}_tg${talkgroup}_${stamp}`
}

/** A refusal in the uploader's own words; the routes choose how each API says it. */
export class CallKeyRefused extends AppError {
  constructor(
    readonly reason: 'invalid-key' | 'out-of-scope',
    system: number,
    talkgroup: number,
  ) {
    super(401, 'INVALID_API_KEY', `Invalid API key for system ${system} talkgroup ${talkgroup}.`)
  }
}

/**
 * Scanner calls: each upload is checked against its key's scope, transcoded once to Opus voice, delivered live on
 * its system's channel (the document's transmission events, tagged with its talkgroup), and stored with its
 * recording before the uploader is told it was imported.
 */
type CallHistoryRow = ReturnType<typeof callRow>

export class CallService {
  private readonly transcodes: ProcessingSlots
  /** The addon's transcodes, one worker thread per slot. */
  private readonly voice: VoiceTranscoders

  constructor(
    private readonly deps: {
      radio: RadioService
      apiKeys: ApiKeyService
      ffmpegPath: string
      stagingDir: string
      publicUrl: string
      limits: CallConfig
      /** Calls being imported (duplicates racing each other), on this instance or across the cluster. */
      claims: CallClaims
    },
  ) {
    this.transcodes = new ProcessingSlots(deps.limits.transcodeConcurrency)
    this.voice = new VoiceTranscoders(deps.limits.transcodeConcurrency)
  }

  /** Ends the transcode worker threads. */
  close(): void {
    this.voice.close()
  }

  /** The key's grant when it may upload `talkgroup` on `system`; CallKeyRefused otherwise. */
  async authorize(key: string | undefined, system: number, talkgroup: number): Promise<KeyGrant> {
    let grant: KeyGrant | null
    try {
      grant = key ? await this.deps.apiKeys.grant(key) : null
    } catch (err) {
      throw keyCheckFailure(err)
    }
    if (!grant) throw new CallKeyRefused('invalid-key', system, talkgroup)
    if (!grantAllows(grant, system, talkgroup)) throw new CallKeyRefused('out-of-scope', system, talkgroup)
    return grant
  }

  /** The system an OpenMHz short name stands for, or null. */
  shortNameSystem(shortName: string): Promise<number | null> {
    return this.deps.apiKeys.shortNameSystem(shortName)
  }

  /**
   * Imports one call whose audio is at `audioPath` (removed afterwards). A duplicate is acknowledged and not stored
   * again; audio FFmpeg cannot read is a 415 that stores nothing; a store failure is a 503 (the uploader retries).
   */
  async import(upload: CallUpload, audioPath: string): Promise<ImportOutcome> {
    const transmissionId = callIdFor(upload.system, upload.talkgroup, upload.startedAt)
    const claim = await this.deps.claims.claim(upload.system, upload.talkgroup, upload.startedAt)
    if (claim === null) {
      callMetrics.imported.inc({ outcome: 'duplicate' })
      return { duplicate: true, transmissionId }
    }
    try {
      const near = await this.fromDatabase(() =>
        this.deps.radio.history.callsNear(
          upload.system,
          upload.talkgroup,
          upload.startedAt,
          DUPLICATE_WINDOW_MS,
        ),
      )
      if (near.length > 0) {
        callMetrics.imported.inc({ outcome: 'duplicate' })
        return { duplicate: true, transmissionId: near[0] as string }
      }
      const packets = await this.transcode(audioPath, transmissionId)
      const row = callRow(upload, transmissionId, packets)
      this.deliver(upload, row, packets)
      await this.store(row, packets)
      callMetrics.imported.inc({ outcome: 'imported' })
      return { duplicate: false, transmissionId }
    } finally {
      await this.deps.claims.release(upload.system, upload.talkgroup, claim)
    }
  }

  /**
   * Opus packets of the call (100 ms each), from the addon or FFmpeg. At most CALL_TRANSCODE_CONCURRENCY run at once;
   * past CALL_QUEUE_MAX waiting, the upload is refused with a 503 and Retry-After (uploaders retry).
   */
  private async transcode(audioPath: string, transmissionId: string): Promise<OpusChunk[]> {
    const slot = `${transmissionId}-${crypto.randomUUID()}`
    if (
      this.transcodes.inUse >= this.transcodes.size &&
      this.transcodes.queued >= this.deps.limits.maxQueued
    ) {
      callMetrics.refusedBusy.inc()
      throw new AppError(503, 'CALLS_BUSY', 'Too many calls are waiting to be transcoded; retry shortly', {
        'Retry-After': '5',
      })
    }
    const waiting = this.transcodes.acquire(slot)
    callMetrics.transcodesWaiting.set(this.transcodes.queued)
    await waiting
    callMetrics.transcodesWaiting.set(this.transcodes.queued)
    try {
      return await this.transcodeNow(audioPath, slot)
    } finally {
      this.transcodes.release(slot)
    }
  }

  /**
   * The addon first (WAV, MP3, AAC-LC decoded and encoded in process, off the event loop; the file is read whole, at
   * most CALL_UPLOAD_MAX_MB); what it leaves — other formats and codecs (HE-AAC, FLAC, …), anything that does not
   * decode cleanly — goes to FFmpeg, which stays the judge of what is audio: only its failure is a 415.
   */
  private async transcodeNow(audioPath: string, slot: string): Promise<OpusChunk[]> {
    const { limits } = this.deps
    try {
      if (limits.transcoder === 'native') {
        const voice = await this.inProcess(audioPath)
        if (voice.ok) {
          callMetrics.transcodes.inc({ path: 'native', reason: voice.codec })
          return toChunks(voice.packets)
        }
        callMetrics.transcodes.inc({ path: 'ffmpeg', reason: voice.refusal })
        if (voice.refusal === 'INTERNAL')
          log.error({ message: voice.message }, 'native call transcode failed')
        else log.debug({ refusal: voice.refusal, message: voice.message }, 'call left to FFmpeg')
      } else {
        callMetrics.transcodes.inc({ path: 'ffmpeg', reason: 'configured' })
      }
      return toChunks(await this.ffmpegPackets(audioPath, slot))
    } catch (error) {
      if (error instanceof UnreadableAudioError)
        throw new UnsupportedMediaTypeError(`Invalid audio file: ${error.message}`, 'NOT_AUDIO')
      throw error
    }
  }

  /** The addon's transcode on a worker thread; a worker that fails is a refusal (`INTERNAL`), so FFmpeg takes over. */
  private async inProcess(audioPath: string): Promise<VoiceResult> {
    const { limits } = this.deps
    const input = await readFile(audioPath)
    try {
      return await this.voice.transcode(input, {
        bitrate: VOICE_BITRATE,
        complexity: limits.opusComplexity,
        maxSeconds: limits.maxSeconds,
        maxOutputBytes: opusBytesFor(limits.maxSeconds),
      })
    } catch (error) {
      return {
        ok: false,
        refusal: 'INTERNAL',
        message: error instanceof Error ? error.message : String(error),
      }
    }
  }

  /** FFmpeg's Ogg Opus for the file, demuxed to its audio packets. */
  private async ffmpegPackets(audioPath: string, slot: string): Promise<Uint8Array[]> {
    const dir = join(this.deps.stagingDir, slot)
    await mkdir(dir, { recursive: true })
    const output = join(dir, 'call.opus')
    try {
      await transcodeToOpusVoice(this.deps.ffmpegPath, audioPath, output, {
        maxSeconds: this.deps.limits.maxSeconds,
        maxOutputBytes: opusBytesFor(this.deps.limits.maxSeconds),
        complexity: this.deps.limits.opusComplexity,
        timeoutMs: TRANSCODE_TIMEOUT_MS,
      })
      const ogg = new Uint8Array(await readFile(output))
      return new OggDemuxer()
        .push(ogg)
        .packets.map((packet) => packet.data.slice())
        .filter((data) => !isOpusHeaderPacket(data))
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  }

  private deliver(upload: CallUpload, row: CallHistoryRow, chunks: OpusChunk[]): void {
    const { transmissionId } = row
    if (!this.deps.radio.systemChannel(upload.system)) {
      log.warn({ system: upload.system }, 'no live channel left for this system: call stored, not delivered')
      return
    }
    const start = startEvent(
      transmissionId,
      {
        transmission_id: transmissionId,
        slot: null,
        radio_id: row.radioId,
        talkgroup_id: upload.talkgroup,
        timestamp: new Date(upload.startedAt).toISOString(),
        duration: row.duration,
        ...callFields(row, this.deps.publicUrl),
      },
      upload.talkgroup,
    )
    this.deps.radio.publishCall(upload.system, [
      start,
      ...chunks.map((chunk, sequence) => chunkEvent(transmissionId, sequence, chunk, upload.talkgroup)),
      endEvent(transmissionId, upload.talkgroup),
    ])
  }

  private async store(row: CallHistoryRow, chunks: OpusChunk[]): Promise<void> {
    const writer = new RecordingWriter(row.transmissionId, 16_000)
    for (const chunk of chunks) writer.add(chunk)
    const recording = writer.finish()
    if (!recording) throw new UnsupportedMediaTypeError('Invalid audio file: no audio to record', 'NOT_AUDIO')
    const stored = {
      ...row,
      recordingKey: recordingKey(row.transmissionId),
      recordingBytes: recording.byteLength,
    }
    await this.fromDatabase(() => this.deps.radio.history.storeCall(stored, recording))
  }

  private async fromDatabase<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work()
    } catch (err) {
      throw outageUnlessInvalidValue(err, () => {
        log.error({ err }, 'scanner call store failed')
        return new ServiceUnavailableError('The call could not be stored; retry shortly', 'CALLS_UNAVAILABLE')
      })
    }
  }
}

/** The call's Opus packets as chunks; anything that is not a valid Opus packet is dropped. */
function toChunks(packets: Uint8Array[]): OpusChunk[] {
  const chunks: OpusChunk[] = []
  for (const data of packets) {
    const classified = classifyChunk(data)
    if (classified.kind !== 'opus-packet') continue
    chunks.push(new OpusChunk(data, 'opus-packet', classified.durationSamples))
  }
  if (chunks.length === 0) throw new UnreadableAudioError('no audio found in it')
  return chunks
}

/** The call's history row, before its recording is written. */
function callRow(upload: CallUpload, transmissionId: string, chunks: OpusChunk[]) {
  const samples = chunks.reduce((sum, chunk) => sum + chunk.durationSamples, 0)
  const duration = Math.round((samples / 48_000) * 1000) / 1000
  return {
    transmissionId,
    slot: null,
    radioId: upload.sources[0]?.src ?? 0,
    talkgroupId: upload.talkgroup,
    startedAt: new Date(upload.startedAt),
    endedAt: new Date(upload.startedAt + duration * 1000),
    duration,
    chunkCount: chunks.length,
    recordingKey: null,
    recordingBytes: null,
    systemId: upload.system,
    systemLabel: upload.systemLabel ?? null,
    talkgroupLabel: upload.talkgroupLabel ?? null,
    talkgroupTag: upload.talkgroupTag ?? null,
    talkgroupGroup: upload.talkgroupGroup ?? null,
    frequency: upload.frequency ?? null,
    emergency: upload.emergency,
    sources: upload.sources,
    call: {
      frequencies: upload.frequencies,
      patches: upload.patches,
      ...(upload.talkgroupName ? { talkgroupName: upload.talkgroupName } : {}),
      ...(upload.audioName ? { audioName: upload.audioName } : {}),
      ...(upload.audioType ? { audioType: upload.audioType } : {}),
      ...(upload.reportedLength !== undefined ? { reportedLength: upload.reportedLength } : {}),
    },
  }
}
