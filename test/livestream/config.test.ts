import { expect, test } from 'bun:test'
import { ConfigError, loadConfig } from '../../src/config.ts'

const BASE = { JWT_SECRET: 'x'.repeat(32), DATA_DIR: '/tmp/airwave-config-test' }

test('livestream defaults: the document rate limits, 2 s segments, 720p-sized data budget', () => {
  expect(loadConfig(BASE).livestream).toEqual({
    segmentSeconds: 2,
    maxRestarts: 3,
    graceSeconds: 15,
    sharedSegments: 15,
    retentionSeconds: 3600,
    x264Preset: 'veryfast',
    connectionsPerMinute: 10,
    dataBytesPerMinute: 64 * 1024 * 1024,
    eventsPerMinute: 100,
    chunksPerMinute: 3000,
    httpGeneralPerMinute: 100,
    httpStreamPerMinute: 1000,
    httpStatusPerMinute: 60,
  })
})

test('the default chunk rate lets a MediaRecorder with 100 ms timeslices (at least 20 chunks/s) through', () => {
  expect(loadConfig(BASE).livestream.chunksPerMinute).toBeGreaterThanOrEqual(20 * 60)
})

test('every livestream setting is read, and bad values stop the server with a one-line fix', () => {
  const config = loadConfig({
    ...BASE,
    LIVESTREAM_SEGMENT_SECONDS: '4',
    LIVESTREAM_MAX_RESTARTS: '0',
    LIVESTREAM_GRACE_S: '5',
    LIVESTREAM_RETENTION_S: '60',
    LIVESTREAM_X264_PRESET: 'ultrafast',
    LIVESTREAM_CONNECTIONS_PER_MIN: '1',
    LIVESTREAM_EVENTS_PER_MIN: '2',
    LIVESTREAM_CHUNKS_PER_MIN: '6',
    LIVESTREAM_DATA_BYTES_PER_MIN: '2048',
    LIVESTREAM_HTTP_GENERAL_PER_MIN: '3',
    LIVESTREAM_HTTP_STREAM_PER_MIN: '4',
    LIVESTREAM_HTTP_STATUS_PER_MIN: '5',
  }).livestream
  expect(config).toEqual({
    segmentSeconds: 4,
    maxRestarts: 0,
    graceSeconds: 5,
    sharedSegments: 15,
    retentionSeconds: 60,
    x264Preset: 'ultrafast',
    connectionsPerMinute: 1,
    eventsPerMinute: 2,
    chunksPerMinute: 6,
    dataBytesPerMinute: 2048,
    httpGeneralPerMinute: 3,
    httpStreamPerMinute: 4,
    httpStatusPerMinute: 5,
  })
  expect(() => loadConfig({ ...BASE, LIVESTREAM_SEGMENT_SECONDS: '0' })).toThrow(ConfigError)
  expect(() => loadConfig({ ...BASE, LIVESTREAM_X264_PRESET: 'warp' })).toThrow(/LIVESTREAM_X264_PRESET=warp/)
  expect(() => loadConfig({ ...BASE, LIVESTREAM_DATA_BYTES_PER_MIN: '10' })).toThrow(/1024/)
})
