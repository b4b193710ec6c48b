import { createHash, timingSafeEqual } from 'node:crypto'
import { and, desc, eq, isNull } from 'drizzle-orm'
import { outageUnlessInvalidValue } from '../platform/db/faults.ts'
import type { Db } from '../platform/db/index.ts'
import { BadRequestError, ConflictError, NotFoundError, ServiceUnavailableError } from '../platform/errors.ts'
import { log } from '../platform/log.ts'
import { apiKeys } from './schema.ts'

export interface ApiKeySummary {
  name: string
  prefix: string
  createdAt: string
  lastUsedAt: string | null
  revokedAt: string | null
  systems: number[] | null
  talkgroups: number[] | null
  openmhzShortName: string | null
}

/** What a key may upload scanner calls for (null: anything); collector ingest ignores it. */
export interface KeyScope {
  systems: number[] | null
  talkgroups: number[] | null
  /** OpenMHz short name standing for the key's one system. */
  openmhzShortName: string | null
}

/** An accepted key: its name and scope. */
export interface KeyGrant extends KeyScope {
  name: string
}

const UNSCOPED: KeyScope = { systems: null, talkgroups: null, openmhzShortName: null }
/** Most systems or talkgroups one key may be scoped to. */
export const MAX_SCOPE_IDS = 1000
const SHORT_NAME_PATTERN = /^[a-z0-9][a-z0-9_-]{0,63}$/

/**
 * What a key look-up that threw becomes: a value the database refuses stays its 400; anything else is logged and
 * answered 503 KEY_CHECK_UNAVAILABLE (the collector or uploader retries).
 */
export function keyCheckFailure(err: unknown): unknown {
  return outageUnlessInvalidValue(err, () => {
    log.error({ err }, 'API key check failed')
    return new ServiceUnavailableError('API key check unavailable; retry shortly', 'KEY_CHECK_UNAVAILABLE')
  })
}

/** True when `grant` may upload a call of `talkgroup` on `system`. */
export function grantAllows(grant: KeyScope, system: number, talkgroup: number): boolean {
  return (
    (grant.systems === null || grant.systems.includes(system)) &&
    (grant.talkgroups === null || grant.talkgroups.includes(talkgroup))
  )
}

const KEY_PREFIX = 'awk_'
const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex')
}

function summary(row: typeof apiKeys.$inferSelect): ApiKeySummary {
  return {
    name: row.name,
    prefix: row.prefix,
    createdAt: row.createdAt.toISOString(),
    lastUsedAt: row.lastUsedAt?.toISOString() ?? null,
    revokedAt: row.revokedAt?.toISOString() ?? null,
    systems: row.systems ?? null,
    talkgroups: row.talkgroups ?? null,
    openmhzShortName: row.openmhzShortName ?? null,
  }
}

function checkScope(scope: KeyScope): void {
  for (const [what, ids] of [
    ['systems', scope.systems],
    ['talkgroups', scope.talkgroups],
  ] as const) {
    if (ids === null) continue
    if (
      ids.length === 0 ||
      ids.length > MAX_SCOPE_IDS ||
      !ids.every((n) => Number.isInteger(n) && n >= 0 && n <= 0xffff_ffff)
    )
      throw new BadRequestError(`invalid ${what}: 1 to ${MAX_SCOPE_IDS} integer ids`, 'INVALID_SCOPE')
  }
  const shortName = scope.openmhzShortName
  if (shortName !== null) {
    if (!SHORT_NAME_PATTERN.test(shortName))
      throw new BadRequestError(
        `invalid OpenMHz short name "${shortName}": use 1-64 lower-case letters, digits, dash or underscore`,
        'INVALID_SCOPE',
      )
    if (scope.systems?.length !== 1)
      throw new BadRequestError(
        'an OpenMHz short name stands for exactly one system: give one --systems id',
        'INVALID_SCOPE',
      )
  }
}

/** Collector ingest keys: those in INGEST_API_KEYS plus those stored (hashed) in the database. */
export class ApiKeyService {
  private readonly staticKeyHashes: Buffer[]

  constructor(
    private readonly db: Db,
    staticKeys: string[],
  ) {
    this.staticKeyHashes = staticKeys.map((k) => Buffer.from(sha256(k), 'hex'))
  }

  static validateName(name: string): void {
    if (!NAME_PATTERN.test(name)) {
      throw new BadRequestError(
        `invalid key name "${name}": use 1-64 letters, digits, dot, dash or underscore`,
        'INVALID_NAME',
      )
    }
  }

  /** Makes a new key; the returned `key` is shown once and never stored. */
  async create(name: string, scope: KeyScope = UNSCOPED): Promise<ApiKeySummary & { key: string }> {
    ApiKeyService.validateName(name)
    checkScope(scope)
    const key = KEY_PREFIX + Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('base64url')
    const existing = await this.db.select({ id: apiKeys.id }).from(apiKeys).where(eq(apiKeys.name, name))
    if (existing.length > 0) throw new ConflictError(`a key named "${name}" already exists`, 'KEY_EXISTS')
    if (scope.openmhzShortName !== null && (await this.shortNameSystem(scope.openmhzShortName)) !== null)
      throw new ConflictError(
        `the OpenMHz short name "${scope.openmhzShortName}" is taken`,
        'SHORT_NAME_EXISTS',
      )
    const [row] = await this.db
      .insert(apiKeys)
      .values({ name, keyHash: sha256(key), prefix: key.slice(0, KEY_PREFIX.length + 6), ...scope })
      .returning()
    if (!row) throw new Error('insert returned no row')
    return { ...summary(row), key }
  }

  async list(): Promise<ApiKeySummary[]> {
    const rows = await this.db.select().from(apiKeys).orderBy(desc(apiKeys.createdAt))
    return rows.map(summary)
  }

  async revoke(name: string): Promise<ApiKeySummary> {
    const [row] = await this.db
      .update(apiKeys)
      .set({ revokedAt: new Date() })
      .where(eq(apiKeys.name, name))
      .returning()
    if (!row) throw new NotFoundError(`no key named "${name}"`, 'KEY_NOT_FOUND')
    return summary(row)
  }

  /** The key's name when `key` is accepted for ingest, else null. */
  async verify(key: string): Promise<string | null> {
    return (await this.grant(key))?.name ?? null
  }

  /** The system an active key's OpenMHz short name stands for, or null when no key has it. */
  async shortNameSystem(shortName: string): Promise<number | null> {
    const [row] = await this.db
      .select({ systems: apiKeys.systems })
      .from(apiKeys)
      .where(and(eq(apiKeys.openmhzShortName, shortName), isNull(apiKeys.revokedAt)))
    return row?.systems?.[0] ?? null
  }

  /** The key's name and scope when `key` is accepted, else null. Keys from INGEST_API_KEYS are unscoped. */
  async grant(key: string): Promise<KeyGrant | null> {
    if (key === '') return null
    const hash = sha256(key)
    const hashBytes = Buffer.from(hash, 'hex')
    if (this.staticKeyHashes.some((h) => timingSafeEqual(h, hashBytes)))
      return { name: 'INGEST_API_KEYS', ...UNSCOPED }
    const [row] = await this.db
      .select({
        id: apiKeys.id,
        name: apiKeys.name,
        lastUsedAt: apiKeys.lastUsedAt,
        systems: apiKeys.systems,
        talkgroups: apiKeys.talkgroups,
        openmhzShortName: apiKeys.openmhzShortName,
      })
      .from(apiKeys)
      .where(and(eq(apiKeys.keyHash, hash), isNull(apiKeys.revokedAt)))
    if (!row) return null
    const now = new Date()
    // Ingest sends many requests a second: record use at most once a minute per key.
    if (!row.lastUsedAt || now.getTime() - row.lastUsedAt.getTime() > 60_000) {
      await this.db.update(apiKeys).set({ lastUsedAt: now }).where(eq(apiKeys.id, row.id))
    }
    return {
      name: row.name,
      systems: row.systems ?? null,
      talkgroups: row.talkgroups ?? null,
      openmhzShortName: row.openmhzShortName ?? null,
    }
  }
}
