import { createHash, timingSafeEqual } from 'node:crypto'
import { and, desc, eq, isNull } from 'drizzle-orm'
import type { Db } from '../platform/db/index.ts'
import { BadRequestError, ConflictError, NotFoundError } from '../platform/errors.ts'
import { apiKeys } from './schema.ts'

export interface ApiKeySummary {
  name: string
  prefix: string
  createdAt: string
  lastUsedAt: string | null
  revokedAt: string | null
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
  async create(name: string): Promise<ApiKeySummary & { key: string }> {
    ApiKeyService.validateName(name)
    const key = KEY_PREFIX + Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('base64url')
    const existing = await this.db.select({ id: apiKeys.id }).from(apiKeys).where(eq(apiKeys.name, name))
    if (existing.length > 0) throw new ConflictError(`a key named "${name}" already exists`, 'KEY_EXISTS')
    const [row] = await this.db
      .insert(apiKeys)
      .values({ name, keyHash: sha256(key), prefix: key.slice(0, KEY_PREFIX.length + 6) })
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
    if (key === '') return null
    const hash = sha256(key)
    const hashBytes = Buffer.from(hash, 'hex')
    if (this.staticKeyHashes.some((h) => timingSafeEqual(h, hashBytes))) return 'INGEST_API_KEYS'
    const [row] = await this.db
      .select({ id: apiKeys.id, name: apiKeys.name, lastUsedAt: apiKeys.lastUsedAt })
      .from(apiKeys)
      .where(and(eq(apiKeys.keyHash, hash), isNull(apiKeys.revokedAt)))
    if (!row) return null
    const now = new Date()
    // Ingest sends many requests a second: record use at most once a minute per key.
    if (!row.lastUsedAt || now.getTime() - row.lastUsedAt.getTime() > 60_000) {
      await this.db.update(apiKeys).set({ lastUsedAt: now }).where(eq(apiKeys.id, row.id))
    }
    return row.name
  }
}
