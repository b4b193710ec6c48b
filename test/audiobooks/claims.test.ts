import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { eq } from 'drizzle-orm'
import { JobClaims } from '../../src/audiobooks/claims.ts'
import { audiobookJobs } from '../../src/audiobooks/schema.ts'
import type { Database, Db } from '../../src/platform/db/index.ts'
import { testDatabases } from '../support/databases.ts'
import { until } from '../support/until.ts'

const TTL_MS = 600

/**
 * `db`, except that the answer to taking a job for processing (the UPDATE that sets PROCESSING) reaches the caller
 * `delayMs` after the database committed it, as on a loaded machine: renewals run meanwhile.
 */
function slowClaimReplies(db: Db, delayMs: number): Db {
  return new Proxy(db, {
    get(target, prop, receiver) {
      if (prop !== 'update') return Reflect.get(target, prop, receiver)
      return (table: typeof audiobookJobs) => {
        const update = target.update(table)
        return {
          set(values: Partial<typeof audiobookJobs.$inferInsert>) {
            const query = update.set(values)
            if (values.status !== 'PROCESSING') return query
            return {
              where: (where: Parameters<typeof query.where>[0]) => ({
                returning: (fields: { id: typeof audiobookJobs.id }) =>
                  query
                    .where(where)
                    .returning(fields)
                    .then(async (rows) => {
                      await Bun.sleep(delayMs)
                      return rows
                    }),
              }),
            }
          },
        }
      }
    },
  })
}

for (const kind of testDatabases()) {
  describe(`audiobook job claims on ${kind.name}`, () => {
    let database: Database
    const claims: JobClaims[] = []
    /** One instance's claims. */
    const instance = (id: string, db: Db = database.db) => {
      const made = new JobClaims(db, id, TTL_MS)
      claims.push(made)
      return made
    }
    const job = async (values: Partial<typeof audiobookJobs.$inferInsert> = {}) => {
      const id = crypto.randomUUID()
      await database.db
        .insert(audiobookJobs)
        .values({ id, ownerId: 'alice', title: id, status: 'PENDING', nodeId: 'n', ...values })
      return id
    }
    const row = async (id: string) =>
      (await database.db.select().from(audiobookJobs).where(eq(audiobookJobs.id, id)))[0]

    beforeAll(async () => {
      database = await kind.open()
    })
    afterAll(async () => {
      for (const c of claims) c.stop()
      await database.close()
    })

    test('many instances racing for an unclaimed job: exactly one gets it', async () => {
      const id = await job()
      const racers = Array.from({ length: 8 }, (_, i) => instance(`racer-${i}`))
      const tokens = await Promise.all(racers.map((r) => r.claim(id)))
      const winners = tokens.filter((t) => t !== null)
      expect(winners).toHaveLength(1)
      const winner = racers[tokens.findIndex((t) => t !== null)] as JobClaims
      expect(await row(id)).toMatchObject({
        status: 'PROCESSING',
        claimedBy: winner.instanceId,
        claimToken: winners[0],
      })
    })

    test("a job queued on one instance is that instance's while its claim lives", async () => {
      const [a, b] = [instance('a'), instance('b')]
      const id = await job({})
      const queued = a.queueClaim()
      await database.db.update(audiobookJobs).set(queued).where(eq(audiobookJobs.id, id))
      a.hold(id, queued.claimToken)
      expect(await b.claim(id)).toBeNull()
      expect(await b.claimable(100)).not.toContain(id)
      // Renewed past its first expiry, it is still only a's.
      await Bun.sleep(TTL_MS * 1.5)
      expect(await b.claim(id)).toBeNull()
      const token = await a.claim(id)
      expect(token).not.toBeNull()
      expect(a.tokenOf(id)).toBe(token as string)
    })

    test('an instance that stops renewing loses its job to another, which gets a new token; it hears so', async () => {
      const [dead, survivor] = [instance('dead'), instance('survivor')]
      const lost: string[] = []
      dead.onLost = (jobId) => lost.push(jobId)
      const id = await job()
      const first = await dead.claim(id)
      dead.stop()
      const taken = await until(
        async () => ((await survivor.claimable(100)).includes(id) ? survivor.claim(id) : null),
        (token) => token !== null,
      )
      expect(taken).not.toBe(first)
      expect(await row(id)).toMatchObject({ claimedBy: 'survivor', claimToken: taken })
      // The stalled instance wakes up: its next renewal finds the claim gone.
      await (dead as unknown as { renew(): Promise<void> }).renew()
      expect(lost).toEqual([id])
      expect(dead.tokenOf(id)).toBeUndefined()
    })

    test('renewals while this instance takes its queued job for processing never count the claim lost', async () => {
      // The new token is committed at once, but the instance hears so only after three renewals of the old one.
      const a = instance('a', slowClaimReplies(database.db, TTL_MS))
      const lost: string[] = []
      a.onLost = (jobId) => lost.push(jobId)
      const id = await job()
      const queued = a.queueClaim()
      await database.db.update(audiobookJobs).set(queued).where(eq(audiobookJobs.id, id))
      a.hold(id, queued.claimToken)
      const token = await a.claim(id)
      expect(token).not.toBeNull()
      expect(lost).toEqual([])
      expect(a.tokenOf(id)).toBe(token as string)
      // And the new claim is renewed.
      const before = (await row(id))?.claimExpiresAt as Date
      await until(
        () => row(id),
        (r) => (r?.claimExpiresAt?.getTime() ?? 0) > before.getTime(),
      )
      expect(lost).toEqual([])
    })

    test('a job finished under its claim is not lost: renewing it just stops', async () => {
      const a = instance('a')
      const lost: string[] = []
      a.onLost = (jobId) => lost.push(jobId)
      const id = await job()
      const token = await a.claim(id)
      // Recorded COMPLETED under the token (src/audiobooks/processor.ts), before the processor forgets the job.
      await database.db
        .update(audiobookJobs)
        .set({ status: 'COMPLETED', claimExpiresAt: null })
        .where(eq(audiobookJobs.id, id))
      await until(
        () => a.tokenOf(id),
        (held) => held === undefined,
      )
      expect(lost).toEqual([])
      expect(await row(id)).toMatchObject({ status: 'COMPLETED', claimToken: token })
    })

    test("releaseAll lets a shut-down instance's claims go at once", async () => {
      const [leaving, other] = [instance('leaving'), instance('other')]
      const id = await job()
      expect(await leaving.claim(id)).not.toBeNull()
      await leaving.releaseAll()
      expect(await other.claimable(100)).toContain(id)
      expect(await other.claim(id)).not.toBeNull()
    })

    test('finished jobs are never claimable', async () => {
      const c = instance('c')
      const done = await job({ status: 'COMPLETED' })
      const failed = await job({ status: 'FAILED' })
      expect(await c.claim(done)).toBeNull()
      expect(await c.claim(failed)).toBeNull()
      const claimable = await c.claimable(1000)
      expect(claimable).not.toContain(done)
      expect(claimable).not.toContain(failed)
    })
  })
}
