import { expect } from 'bun:test'
import { audiobookApiSuite } from './api-suite.ts'

audiobookApiSuite({
  name: 'local',
  env: () => ({}),
  urlPrefix: (serverUrl) => `${serverUrl}/blobs/jobs/`,
  expiredStatus: 403,
  async expectTamperRefused(url) {
    const edits: Array<(u: URL) => void> = [
      // Another blob under the same signature.
      (u) => {
        u.pathname = u.pathname.replace('chapter_1.mp3', 'chapter_2.mp3')
      },
      // Another response header, or a later expiry.
      (u) => u.searchParams.set('cd', 'attachment'),
      (u) => u.searchParams.set('expires', String(Number(u.searchParams.get('expires')) + 3600)),
      (u) => u.searchParams.delete('sig'),
    ]
    expect((await fetch(url)).status).toBe(200)
    for (const edit of edits) {
      const tampered = new URL(url)
      edit(tampered)
      const response = await fetch(tampered)
      expect(response.status).toBe(403)
      expect(await response.json()).toMatchObject({ status: 'error', code: 'SIGNED_URL_INVALID' })
    }
  },
})
