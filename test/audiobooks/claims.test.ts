import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { eq } from 'drizzle-orm'
import { JobClaims } from '../../src/audiobooks/claims.ts'
import { audiobookJobs } from '../../src/audiobooks/schema.ts'
import type { Database } from '../../src/platform/db/index.ts'
import { testDatabases } from '../support/databases.ts'
import { until } from '../support/until.ts'

const TTL_MS = 600

for (const kind of testDatabases()) {
  describe(`audiobook job claims on ${kind.name}`, () => {
    let database: Database
    const claims: JobClaims[] = []
    /** One instance's claims. */
    const instance = (id: string) => {
      const made = new JobClaims(database.db, id, TTL_MS)
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
      await database.db.update(audiobookJobs).set(a.queued(id)).where(eq(audiobookJobs.id, id))
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
