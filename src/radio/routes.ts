import { Elysia } from 'elysia'
import { readJsonBody } from '../http/json-body.ts'
import { blobSource, fileSource, type RangeSource, serveRange } from '../http/range.ts'
import { sseHeadResponse } from '../http/sse.ts'
import { outageUnlessInvalidValue } from '../platform/db/faults.ts'
import {
  BadRequestError,
  MethodNotAllowedError,
  NotFoundError,
  ServiceUnavailableError,
} from '../platform/errors.ts'
import { log } from '../platform/log.ts'
import type { BlobStore } from '../platform/storage/blob-store.ts'
import { LocalBlobStore } from '../platform/storage/local-blob-store.ts'
import { historyItem } from './history-item.ts'
import {
  encodeCursor,
  HistoryQuery,
  IngestBodyDoc,
  MAX_ID,
  MAX_INGEST_BODY_BYTES,
  parseHistoryQuery,
  parseIngestBody,
  queryIdList,
} from './model.ts'
import type { ListenTarget, RadioService } from './service.ts'

/** Database trouble on a read is a 503 in the radio shape, not a 500 (a value it refused stays a 400). */
async function fromDatabase<T>(read: () => Promise<T>): Promise<T> {
  try {
    return await read()
  } catch (err) {
    throw outageUnlessInvalidValue(err, () => {
      log.error({ err }, 'transmission history read failed')
      return new ServiceUnavailableError(
        'Transmission history is unavailable; retry shortly',
        'HISTORY_UNAVAILABLE',
      )
    })
  }
}

/** `?slot=N` as before; `?system=7[&talkgroup=100,200]` listens to scanner calls. */
function listenTarget(query: Record<string, string | undefined>): ListenTarget {
  if (query.system === undefined) return { slot: query.slot }
  const system = queryIdList(query.system, 'system')
  if (system?.length !== 1 || (system[0] as number) > MAX_ID)
    throw new BadRequestError('Invalid system: must be one integer id', 'INVALID_QUERY')
  const talkgroups = queryIdList(query.talkgroup, 'talkgroup')
  return { system: system[0] as number, talkgroups: talkgroups ? new Set(talkgroups) : null }
}

/**
 * radio-ingest-and-listen.md: collector ingest, SSE listening (both also under `.php`), and the history
 * and recordings CONTRACT.md adds. Errors take the `{success:false,error}` shape (src/http/error-handler.ts).
 */
export function radioRoutes(radio: RadioService, blobs: BlobStore, publicUrl: string) {
  const ingestDetail = {
    summary: 'Receive one Opus chunk from a collector (API key)',
    tags: ['radio'],
    requestBody: { content: { 'application/json': { schema: IngestBodyDoc as never } } },
  }
  const listenDetail = { summary: 'Listen to a slot (Server-Sent Events)', tags: ['radio'] }

  // `all` so other methods get the document's 405 in the radio shape, and bodies are read under our own limit.
  const ingest = async ({
    request,
    server,
  }: {
    request: Request
    server: import('bun').Server<unknown> | null
  }) => {
    if (request.method !== 'POST') throw new MethodNotAllowedError('POST')
    await radio.limit(server?.requestIP(request)?.address ?? 'unknown')
    await radio.authorize(request.headers.get('authorization'))
    const chunk = parseIngestBody(await readJsonBody(request, MAX_INGEST_BODY_BYTES))
    const outcome = await radio.ingest(chunk)
    return {
      success: true,
      data: {
        received: true,
        slot: chunk.slot,
        sequence: chunk.sequence,
        size: chunk.chunkData.byteLength,
        duplicate: outcome.duplicate,
        transmission_id: outcome.transmissionId,
      },
    }
  }
  const listen = ({
    request,
    server,
    query,
  }: {
    request: Request
    server: import('bun').Server<unknown> | null
    query: Record<string, string | undefined>
  }) => {
    if (request.method === 'HEAD') return sseHeadResponse()
    if (request.method !== 'GET') throw new MethodNotAllowedError('GET')
    return radio.listen(request, server, listenTarget(query))
  }

  return new Elysia({ name: 'radio' })
    .all('/api/v1/stream-audio', ingest, { parse: 'none', detail: ingestDetail })
    .all('/api/v1/stream-audio.php', ingest, { parse: 'none', detail: { ...ingestDetail, hide: true } })
    .all('/api/v1/stream-listen', listen, { parse: 'none', detail: listenDetail })
    .all('/api/v1/stream-listen.php', listen, { parse: 'none', detail: { ...listenDetail, hide: true } })
    .get(
      '/api/v1/transmissions',
      async ({ query }) => {
        const filters = parseHistoryQuery(query)
        const rows = await fromDatabase(() => radio.history.list(filters))
        const last = rows.length === filters.limit ? rows.at(-1) : undefined
        return {
          success: true,
          data: rows.map((row) => historyItem(row, publicUrl)),
          next_cursor: last
            ? encodeCursor({ startedAt: last.startedAt.getTime(), id: last.transmissionId })
            : null,
        }
      },
      { query: HistoryQuery, detail: { summary: 'Transmission history, newest first', tags: ['radio'] } },
    )
    .get(
      '/api/v1/systems',
      async () => ({ success: true, data: await fromDatabase(() => radio.history.systems()) }),
      {
        detail: {
          summary: 'Scanner systems and talkgroups heard so far, with their labels',
          tags: ['radio'],
        },
      },
    )
    .get('/api/v1/channels', async () => ({ success: true, data: await radio.channelListeners() }), {
      detail: {
        summary: 'Live channels (slots and scanner systems) and their listener counts',
        tags: ['radio'],
      },
    })
    .get(
      '/api/v1/transmissions/:id',
      async ({ params }) => {
        const row = await fromDatabase(() => radio.history.get(params.id))
        if (!row) throw new NotFoundError('Transmission not found', 'TRANSMISSION_NOT_FOUND')
        return { success: true, data: historyItem(row, publicUrl) }
      },
      { detail: { summary: 'One transmission or scanner call', tags: ['radio'] } },
    )
    .all(
      '/api/v1/transmissions/:id/recording',
      async ({ request, params }) => {
        if (request.method !== 'GET' && request.method !== 'HEAD')
          throw new MethodNotAllowedError('GET, HEAD')
        const row = await fromDatabase(() => radio.history.get(params.id))
        if (!row) throw new NotFoundError('Transmission not found', 'TRANSMISSION_NOT_FOUND')
        if (!row.recordingKey) throw new NotFoundError('This transmission was not recorded', 'NOT_RECORDED')
        const source = await recordingSource(blobs, row.recordingKey)
        if (!source) throw new NotFoundError('Recording not found', 'RECORDING_NOT_FOUND')
        return serveRange(request, source, {
          headers: {
            'Content-Disposition': `inline; filename="${row.transmissionId}.ogg"`,
            // A recording never changes once written.
            'Cache-Control': 'public, max-age=86400, immutable',
          },
        })
      },
      { detail: { summary: 'A saved transmission as Ogg Opus (Range supported)', tags: ['radio'] } },
    )
}

/** Local recordings go out with sendfile; others stream through the store. */
async function recordingSource(blobs: BlobStore, key: string): Promise<RangeSource | null> {
  if (blobs instanceof LocalBlobStore) {
    const opened = await blobs.open(key)
    return opened ? fileSource(opened.file, { ...opened.info, contentType: 'audio/ogg' }) : null
  }
  const info = await blobs.stat(key)
  return info ? blobSource(blobs, info, 'audio/ogg') : null
}
