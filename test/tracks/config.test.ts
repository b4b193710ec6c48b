import { describe, expect, test } from 'bun:test'
import { ConfigError, loadConfig } from '../../src/config.ts'

const BASE = {
  JWT_SECRET: 'x'.repeat(32),
  DATA_DIR: '/tmp/airwave-config-test',
  AUDIO_FILES_DIR: '/srv/music',
}
const MIB = 1024 * 1024

describe('track settings in the config', () => {
  test('TRACK_UPLOAD_MAX_MB: 200 MiB by default, 1 to 2000', () => {
    expect(loadConfig(BASE).tracks).toEqual({ uploadMaxBytes: 200 * MIB, accelRedirectPrefix: undefined })
    expect(loadConfig({ ...BASE, TRACK_UPLOAD_MAX_MB: '5' }).tracks.uploadMaxBytes).toBe(5 * MIB)
    for (const bad of ['0', '2001', '1.5', 'lots']) {
      expect(() => loadConfig({ ...BASE, TRACK_UPLOAD_MAX_MB: bad })).toThrow(ConfigError)
    }
  })

  test('TRACK_ACCEL_REDIRECT: unset by default; a path prefix that starts and ends with "/"', () => {
    expect(loadConfig({ ...BASE, TRACK_ACCEL_REDIRECT: '/_airwave_files/' }).tracks.accelRedirectPrefix).toBe(
      '/_airwave_files/',
    )
    for (const bad of ['_files/', '/files', 'http://x/', '/a b/', '/a?b/']) {
      expect(() => loadConfig({ ...BASE, TRACK_ACCEL_REDIRECT: bad })).toThrow(/TRACK_ACCEL_REDIRECT/)
    }
  })

  test('the library folder may not overlap the private uploads under DATA_DIR/uploads', () => {
    for (const dir of [
      '/tmp/airwave-config-test/uploads',
      '/tmp/airwave-config-test/uploads/tracks',
      '/tmp',
    ]) {
      expect(() => loadConfig({ ...BASE, AUDIO_FILES_DIR: dir })).toThrow(/overlaps .*uploads/)
    }
    expect(loadConfig({ ...BASE, AUDIO_FILES_DIR: '/tmp/airwave-config-test/music' }).audioFilesDir).toBe(
      '/tmp/airwave-config-test/music',
    )
  })
})
