import { mkdirSync } from 'node:fs'
import { libraryTrackId } from '../../src/tracks/library.ts'
import { makeTone } from '../audiobooks/fixtures.ts'
import type { RunningServer } from '../support/server.ts'
import { WsClient } from '../support/ws-client.ts'

/** Two library files made by FFmpeg, with the ids the library gives them. */
export async function makeLibrary(dir: string): Promise<{ a: string; b: string }> {
  mkdirSync(dir, { recursive: true })
  await Promise.all([makeTone(dir, 'song-a.mp3', 30, 440), makeTone(dir, 'song-b.mp3', 20, 660)])
  return { a: libraryTrackId('song-a.mp3'), b: libraryTrackId('song-b.mp3') }
}

/** A signed-in socket labelled `device`, ready once the server answered its first `getCurrentState`. */
export async function playbackSocket(
  server: RunningServer,
  token: string,
  device: string,
): Promise<WsClient> {
  const client = await WsClient.open(server.url, { token, device })
  await client.request('getCurrentState', {}, 'trackState')
  return client
}

/**
 * Waits until the server has handled everything sent to `client` so far and everything it was sent before:
 * frames on one socket arrive in order, so anything meant for it arrived before this reply.
 */
export async function settled(client: WsClient): Promise<void> {
  await client.request('getCurrentState', {}, 'trackState')
}

export async function api(
  server: RunningServer,
  path: string,
  token: string | undefined,
  init: { method?: string; body?: unknown } = {},
): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${server.url}${path}`, {
    method: init.method ?? (init.body === undefined ? 'GET' : 'POST'),
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(init.body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  })
  return { status: response.status, body: (await response.json()) as Record<string, unknown> }
}
