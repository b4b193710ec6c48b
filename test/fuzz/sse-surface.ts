/**
 * The Server-Sent Events surface: radio listening (`/api/v1/stream-listen`) and the inspector feed
 * (`/api/v1/inspector/events`), opened with hostile queries and headers; the first event must be well formed.
 */
import fc from 'fast-check'
import { hostileHeaderText, plausibleValue, queryString } from './hostile.ts'
import type { Credentials } from './http-surface.ts'

/** The SSE paths, with the query parameters each reads. */
export const SSE_PATHS: Record<string, string[]> = {
  '/api/v1/stream-listen': ['slot'],
  '/api/v1/inspector/events': ['kind', 'id'],
}

export interface SseCase {
  path: string
  query: string
  headers: Record<string, string>
}

export interface SseAnswer {
  status: number
  contentType: string
  /** The first event (up to its blank line), or the error body. */
  text: string
}

export function sseCase(credentials: Credentials): fc.Arbitrary<SseCase> {
  return fc.constantFrom(...Object.keys(SSE_PATHS)).chain((path) =>
    fc.record({
      path: fc.constant(path),
      query: fc
        .tuple(
          queryString(SSE_PATHS[path] ?? [], plausibleValue),
          fc.constantFrom('', `token=${credentials.admin}`, `token=${credentials.user}`),
        )
        .map((parts) => parts.filter((p) => p !== '').join('&')),
      headers: fc.record(
        {
          'last-event-id': fc.oneof(fc.nat().map(String), fc.constant('-1'), hostileHeaderText),
          authorization: fc.constantFrom(
            `Bearer ${credentials.admin}`,
            `Bearer ${credentials.forged}`,
            'Bearer',
          ),
        },
        { requiredKeys: [] },
      ),
    }),
  )
}

/** Opens the stream, reads its first event (or waits `firstEventMs`), and closes it. */
export async function openSse(baseUrl: string, testCase: SseCase, firstEventMs: number): Promise<SseAnswer> {
  const controller = new AbortController()
  const headers = new Headers()
  for (const [name, value] of Object.entries(testCase.headers)) {
    try {
      headers.set(name, value)
    } catch {
      // Not sendable by the client.
    }
  }
  const target = `${baseUrl}${testCase.path}${testCase.query === '' ? '' : `?${testCase.query}`}`
  const response = await fetch(target, { headers, signal: controller.signal })
  const contentType = response.headers.get('content-type') ?? ''
  if (!contentType.startsWith('text/event-stream') || !response.body) {
    return { status: response.status, contentType, text: await response.text() }
  }
  const reader = response.body.getReader()
  const decoder = new TextDecoder()
  let text = ''
  const deadline = setTimeout(() => controller.abort(), firstEventMs)
  try {
    while (!text.includes('\n\n')) {
      const chunk = await reader.read()
      if (chunk.done) break
      text += decoder.decode(chunk.value, { stream: true })
    }
  } catch {
    // No first event within the time: an idle stream is fine.
  } finally {
    clearTimeout(deadline)
    controller.abort()
  }
  return { status: response.status, contentType, text: text.slice(0, text.indexOf('\n\n') + 1 || undefined) }
}

export function sseViolations(testCase: SseCase, answer: SseAnswer): string[] {
  const problems: string[] = []
  if (answer.status >= 500) problems.push(`answered ${answer.status}: ${answer.text.slice(0, 300)}`)
  if (!answer.contentType.startsWith('text/event-stream') || answer.text === '') return problems
  const data = answer.text
    .split('\n')
    .filter((line) => line.startsWith('data:'))
    .map((line) => line.slice(5).trimStart())
    .join('\n')
  if (!/^event: ?\S+/m.test(answer.text))
    problems.push(`a first event without a name: ${answer.text.slice(0, 200)}`)
  try {
    const parsed = JSON.parse(data) as Record<string, unknown>
    if (
      /^event: ?error$/m.test(answer.text) &&
      typeof parsed.error !== 'string' &&
      typeof parsed.message !== 'string'
    )
      problems.push(`an error event without its message on ${testCase.path}: ${data.slice(0, 200)}`)
  } catch {
    problems.push(`a first event whose data is not JSON: ${answer.text.slice(0, 200)}`)
  }
  return problems
}
