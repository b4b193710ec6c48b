/** Helpers for the scanner-call tests: call audio made by FFmpeg as the uploaders make it, and their multipart forms. */
import { readFileSync } from 'node:fs'
import { makeTone } from '../support/audio.ts'
import { tempDir } from '../support/tmp.ts'

export type CallAudioFormat = 'm4a' | 'wav' | 'mp3'

/** `seconds` of a tone as trunk-recorder (m4a: AAC-LC 16 kHz mono 32k; wav: PCM16 8 kHz) or SDRTrunk (mp3) store it. */
export async function callAudio(
  format: CallAudioFormat,
  seconds: number,
  frequency = 600,
): Promise<Uint8Array> {
  const dir = tempDir('airwave-call-')
  try {
    const args = {
      m4a: ['-ac', '1', '-ar', '16000', '-c:a', 'aac', '-b:a', '32k'],
      wav: ['-ac', '1', '-ar', '8000', '-c:a', 'pcm_s16le'],
      mp3: ['-ac', '1', '-ar', '8000', '-c:a', 'libmp3lame', '-b:a', '16k'],
    }[format]
    return new Uint8Array(
      readFileSync(await makeTone(dir.path, `call.${format}`, seconds, { frequency, args })),
    )
  } finally {
    dir.remove()
  }
}

export type FormPart =
  | { name: string; value: string }
  | { name: string; fileName: string; contentType: string; bytes: Uint8Array }

/**
 * A multipart/form-data body laid out as libcurl's mime API writes it (trunk-recorder's uploaders): a dashed
 * boundary, `Content-Disposition` then `Content-Type` for files, CRLF line ends, parts in the given order.
 */
export function curlMultipart(parts: FormPart[]): { body: Blob; contentType: string } {
  const boundary = `------------------------${crypto.randomUUID().replaceAll('-', '').slice(0, 22)}`
  const chunks: Uint8Array[] = []
  const text = (s: string) => chunks.push(new TextEncoder().encode(s))
  for (const part of parts) {
    text(`--${boundary}\r\n`)
    if ('bytes' in part) {
      text(`Content-Disposition: form-data; name="${part.name}"; filename="${part.fileName}"\r\n`)
      text(`Content-Type: ${part.contentType}\r\n\r\n`)
      chunks.push(part.bytes)
      text('\r\n')
    } else {
      text(`Content-Disposition: form-data; name="${part.name}"\r\n\r\n${part.value}\r\n`)
    }
  }
  text(`--${boundary}--\r\n`)
  return { body: new Blob(chunks as BlobPart[]), contentType: `multipart/form-data; boundary=${boundary}` }
}

/** POSTs `parts` as trunk-recorder does (`User-Agent: TrunkRecorder1.0`); the reply's status and text. */
export async function upload(
  url: string,
  parts: FormPart[],
): Promise<{ status: number; text: string; type: string; retryAfter: string | null }> {
  const { body, contentType } = curlMultipart(parts)
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': contentType, 'user-agent': 'TrunkRecorder1.0', accept: '*/*' },
    body,
  })
  return {
    status: response.status,
    text: await response.text(),
    type: response.headers.get('content-type') ?? '',
    retryAfter: response.headers.get('retry-after'),
  }
}

/** trunk-recorder's rdioscanner_uploader form, field by field in its order; `over` replaces or (undefined) drops fields. */
export function rdioScannerForm(
  audio: { bytes: Uint8Array; fileName: string; contentType: string } | null,
  over: Record<string, string | undefined> = {},
): FormPart[] {
  const fields: Record<string, string | undefined> = {
    audioName: audio?.fileName,
    audioType: audio?.contentType,
    dateTime: '1767446100',
    frequencies:
      '[{"freq": 851012500, "time": 1767446100, "pos": 0.00, "len": 4.32, "errorCount": 0, "spikeCount": 0}]',
    frequency: '851012500',
    key: 'test-ingest-key',
    patches: '[]',
    // trunk-recorder writes the unit's tag without escaping it.
    sources:
      '[{"pos": 0.00, "src": 1234567, "tag": "Engine "7" \\ North"}, {"pos": 2.50, "src": 7654321, "tag": ""}]',
    system: '7',
    systemLabel: 'County P25',
    talkgroup: '100',
    talkgroupGroup: 'Fire',
    talkgroupLabel: 'FD Dispatch',
    talkgroupTag: 'Fire Dispatch',
    talkgroupName: 'Fire Department Dispatch',
    ...over,
  }
  const parts: FormPart[] = []
  if (audio) parts.push({ name: 'audio', ...audio })
  for (const [name, value] of Object.entries(fields)) if (value !== undefined) parts.push({ name, value })
  return parts
}
