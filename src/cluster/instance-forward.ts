/**
 * Hands a GET/HEAD request to another instance of the cluster over plain HTTP and streams its answer back as is
 * (status, headers, body): for state that lives in one instance's memory, e.g. a livestream's LL-HLS packager with
 * its blocking reloads, which wait on the owner. The target's address is the one it announces with the membership
 * (INSTANCE_URL). A forwarded request carries `X-Airwave-Forwarded` (`<from id>.<HMAC of it under JWT_SECRET>`): it
 * is never forwarded again (any value, so a loop cannot happen), and a valid one tells the target that the forwarding
 * instance already applied its per-client limits. An unknown, dead or silent target is a 503 with `Retry-After`.
 */
import { createHmac, timingSafeEqual } from 'node:crypto'
import { AppError } from '../platform/errors.ts'
import { log } from '../platform/log.ts'
import type { Membership } from './membership.ts'

export const FORWARDED_HEADER = 'x-airwave-forwarded'
/** On a forwarded answer: the instance that made it. */
export const FORWARDED_FROM_HEADER = 'x-airwave-answered-by'

/** Hop-by-hop headers (RFC 9110 §7.6.1) and the ones fetch sets itself: not passed on either way. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'host',
  'content-length',
  FORWARDED_HEADER,
])

export class ForwardUnavailableError extends AppError {
  constructor(message: string, code: 'INSTANCE_UNREACHABLE' | 'INSTANCE_TIMEOUT' | 'TOO_MANY_FORWARDED') {
    super(503, code, message, { 'Retry-After': '1' })
  }
}

export interface ForwardOptions {
  /** This instance. */
  instanceId: string
  /** Signs the forwarded header (the cluster's shared JWT_SECRET). */
  secret: string
  membership: Membership
  /** The whole exchange, headers and body, ends by then (longer than the longest wait the target may make). */
  timeoutMs: number
  /** Largest answer passed back; a larger one is cut off (its body errors). */
  maxBodyBytes: number
  /** Forwarded requests waiting for their answer at once; more get a 503. */
  maxInFlight: number
}

export class InstanceForwarder {
  private inFlight = 0
  private readonly stamp: string

  constructor(private readonly options: ForwardOptions) {
    this.stamp = `${options.instanceId}.${this.sign(options.instanceId)}`
  }

  /** Whether the request came from another instance (never forward it again). */
  static isForwarded(request: Request): boolean {
    return request.headers.has(FORWARDED_HEADER)
  }

  /** Whether the request came from an instance of this cluster (its signature holds). */
  trusted(request: Request): boolean {
    const value = request.headers.get(FORWARDED_HEADER)
    if (!value) return false
    const dot = value.lastIndexOf('.')
    if (dot <= 0) return false
    const given = Buffer.from(value.slice(dot + 1))
    const expected = Buffer.from(this.sign(value.slice(0, dot)))
    return given.length === expected.length && timingSafeEqual(given, expected)
  }

  /** The answer of instance `target` to `request` (GET or HEAD; same path and query). */
  async forward(request: Request, target: string): Promise<Response> {
    if (this.inFlight >= this.options.maxInFlight) {
      throw new ForwardUnavailableError(
        'Too many requests are waiting for other instances',
        'TOO_MANY_FORWARDED',
      )
    }
    const base = await this.options.membership.urlOf(target).catch(() => undefined)
    if (!base) {
      throw new ForwardUnavailableError(`Instance ${target} is not reachable`, 'INSTANCE_UNREACHABLE')
    }
    const incoming = new URL(request.url)
    const url = `${base}${incoming.pathname}${incoming.search}`
    const headers = new Headers()
    for (const [name, value] of request.headers) if (!HOP_BY_HOP.has(name)) headers.set(name, value)
    headers.set(FORWARDED_HEADER, this.stamp)

    const abort = new AbortController()
    const timer = setTimeout(() => abort.abort(new Error('timeout')), this.options.timeoutMs)
    const onClientGone = () => abort.abort(new Error('client gone'))
    request.signal.addEventListener('abort', onClientGone, { once: true })
    const done = () => {
      clearTimeout(timer)
      request.signal.removeEventListener('abort', onClientGone)
    }
    this.inFlight++
    let upstream: Response
    try {
      upstream = await fetch(url, {
        method: request.method === 'HEAD' ? 'HEAD' : 'GET',
        headers,
        signal: abort.signal,
        redirect: 'manual',
        decompress: false,
      })
    } catch (err) {
      done()
      const timedOut = abort.signal.aborted && (abort.signal.reason as Error)?.message === 'timeout'
      log.warn({ target, url, err: String(err) }, 'forwarding to another instance failed')
      throw timedOut
        ? new ForwardUnavailableError(`Instance ${target} did not answer in time`, 'INSTANCE_TIMEOUT')
        : new ForwardUnavailableError(`Instance ${target} is not reachable`, 'INSTANCE_UNREACHABLE')
    } finally {
      this.inFlight--
    }

    const out = new Headers()
    for (const [name, value] of upstream.headers) if (!HOP_BY_HOP.has(name)) out.set(name, value)
    out.set(FORWARDED_FROM_HEADER, target)
    const length = upstream.headers.get('content-length')
    if (length !== null && Number(length) > this.options.maxBodyBytes) {
      done()
      await upstream.body?.cancel().catch(() => {})
      throw new ForwardUnavailableError(
        `Instance ${target} answered more than allowed`,
        'INSTANCE_UNREACHABLE',
      )
    }
    if (length !== null) out.set('content-length', length)
    if (!upstream.body || request.method === 'HEAD') {
      done()
      await upstream.body?.cancel().catch(() => {})
      return new Response(null, { status: upstream.status, statusText: upstream.statusText, headers: out })
    }
    let seen = 0
    const max = this.options.maxBodyBytes
    const bounded = upstream.body.pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, controller) {
          seen += chunk.byteLength
          if (seen > max) throw new Error(`forwarded answer larger than ${max} bytes`)
          controller.enqueue(chunk)
        },
        flush: done,
      }),
    )
    return new Response(bounded, { status: upstream.status, statusText: upstream.statusText, headers: out })
  }

  private sign(id: string): string {
    return createHmac('sha256', this.options.secret).update(`airwave forward ${id}`).digest('base64url')
  }
}
