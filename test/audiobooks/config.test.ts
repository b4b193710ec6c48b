import { describe, expect, test } from 'bun:test'
import { ConfigError, loadConfig } from '../../src/config.ts'

const BASE = { JWT_SECRET: 'x'.repeat(32), DATA_DIR: '/tmp/airwave-config-test' }
const MIB = 1024 * 1024

describe('audiobook limits in the config', () => {
  test('defaults', () => {
    expect(loadConfig(BASE).audiobooks).toEqual({
      maxFileBytes: 500 * MIB,
      maxTotalBytes: 2000 * MIB,
      maxChapters: 200,
      concurrency: 2,
      claimTtlSeconds: 30,
    })
  })

  test('read from AUDIOBOOK_* variables', () => {
    const config = loadConfig({
      ...BASE,
      AUDIOBOOK_MAX_FILE_MB: '10',
      AUDIOBOOK_MAX_TOTAL_MB: '30',
      AUDIOBOOK_MAX_CHAPTERS: '5',
      AUDIOBOOK_CONCURRENCY: '1',
      AUDIOBOOK_CLAIM_TTL_S: '5',
    })
    expect(config.audiobooks).toEqual({
      maxFileBytes: 10 * MIB,
      maxTotalBytes: 30 * MIB,
      maxChapters: 5,
      concurrency: 1,
      claimTtlSeconds: 5,
    })
  })

  test('bad values stop the server with one line saying what to fix', () => {
    expect(() => loadConfig({ ...BASE, AUDIOBOOK_MAX_TOTAL_MB: '5000' })).toThrow(
      'AUDIOBOOK_MAX_TOTAL_MB=5000 is not valid: set it to a whole number from 1 to 2000',
    )
    expect(() => loadConfig({ ...BASE, AUDIOBOOK_CONCURRENCY: '0' })).toThrow(ConfigError)
    expect(() => loadConfig({ ...BASE, AUDIOBOOK_CLAIM_TTL_S: '1' })).toThrow(
      'AUDIOBOOK_CLAIM_TTL_S=1 is not valid: set it to a whole number from 2 to 3600',
    )
    expect(() => loadConfig({ ...BASE, AUDIOBOOK_MAX_FILE_MB: '20', AUDIOBOOK_MAX_TOTAL_MB: '10' })).toThrow(
      'AUDIOBOOK_MAX_FILE_MB=20 is larger than AUDIOBOOK_MAX_TOTAL_MB=10',
    )
  })
})
