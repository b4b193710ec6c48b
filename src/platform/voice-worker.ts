/**
 * The body of one call-transcode worker thread (`voice-workers.ts`): each message is a job, transcoded synchronously by
 * the addon, and answered with its packets (a fresh buffer, transferred) or the addon's refusal.
 */
import { transcodeVoicePacketsSync } from './native.ts'
import type { VoiceJob, VoiceJobResult } from './voice-workers.ts'

declare const self: Worker

self.onmessage = (event: MessageEvent<VoiceJob>) => {
  const { id, input, options } = event.data
  let reply: VoiceJobResult
  try {
    const voice = transcodeVoicePacketsSync(input, options)
    // The addon's buffer belongs to this thread's heap: copy it into one that can be transferred.
    reply = voice.ok ? { id, voice: { ...voice, data: new Uint8Array(voice.data) } } : { id, voice }
  } catch (error) {
    reply = { id, error: error instanceof Error ? error.message : String(error) }
  }
  const transfer = 'voice' in reply && reply.voice.ok ? [reply.voice.data.buffer as ArrayBuffer] : []
  self.postMessage(reply, transfer)
}
