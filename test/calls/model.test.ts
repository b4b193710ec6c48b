import { expect, test } from 'bun:test'
import {
  callFromOpenMhzForm,
  callFromRdioScannerForm,
  callFromTrunkRecorderMeta,
  IncompleteCallError,
  lenientJsonArray,
  MAX_LIST_ITEMS,
  parseCallTime,
} from '../../src/calls/model.ts'

const NOW = Date.UTC(2026, 11, 5)

test('call times: epoch seconds, epoch milliseconds and RFC 3339; nonsense and far futures refused', () => {
  expect(parseCallTime('1767446100', NOW)).toBe(1767446100_000)
  expect(parseCallTime('1767446100.25', NOW)).toBe(1767446100_250)
  expect(parseCallTime('1767446100250', NOW)).toBe(1767446100_250)
  expect(parseCallTime('2026-01-03T13:15:00.300Z', NOW)).toBe(Date.UTC(2026, 0, 3, 13, 15, 0, 300))
  for (const bad of [
    '',
    'yesterday',
    '-5',
    '12',
    '1e12',
    '2099-01-01T00:00:00Z',
    '2026-13-45T99:00:00Z',
    '0x10',
  ])
    expect(parseCallTime(bad, NOW)).toBeUndefined()
})

test("trunk-recorder's unescaped unit tags are read anyway; unreadable lists are empty, never a refusal", () => {
  expect(
    lenientJsonArray(
      '[{"pos": 0.00, "src": 1, "tag": "Engine "7" \\ North"}, {"pos": 1, "src": 2, "tag": "x"}]',
    ),
  ).toEqual([
    { pos: 0, src: 1, tag: 'Engine "7" \\ North' },
    { pos: 1, src: 2, tag: 'x' },
  ])
  expect(lenientJsonArray('[{"src": 1, "tag": "a", "pos": 2}]')).toEqual([{ src: 1, tag: 'a', pos: 2 }])
  for (const junk of [undefined, '', 'not json', '{"a":1}', '[', '"text"'])
    expect(lenientJsonArray(junk)).toEqual([])
  expect(lenientJsonArray(JSON.stringify(Array.from({ length: 2000 }, (_, i) => i)))).toHaveLength(
    MAX_LIST_ITEMS,
  )
})

test('the rdio-scanner form names what is missing in its own words, in its order', () => {
  const full = new Map([
    ['dateTime', '1767446100'],
    ['system', '7'],
    ['talkgroup', '100'],
  ])
  const without = (name: string) => new Map([...full].filter(([k]) => k !== name))
  const missing = (fields: Map<string, string>) => {
    try {
      callFromRdioScannerForm(fields, NOW)
      return null
    } catch (error) {
      return (error as IncompleteCallError).message
    }
  }
  expect(missing(without('dateTime'))).toBe('Incomplete call data: no datetime')
  expect(missing(without('system'))).toBe('Incomplete call data: no system')
  expect(missing(without('talkgroup'))).toBe('Incomplete call data: no talkgroup')
  expect(missing(new Map([...full, ['system', '-1']]))).toBe('Incomplete call data: no system')
  expect(missing(full)).toBeNull()
})

test('the rdio-scanner form keeps every field; labels lose control characters and are bounded', () => {
  const call = callFromRdioScannerForm(
    new Map([
      ['timestamp', '1767446100250'],
      ['dateTime', '1767446000'],
      ['system', '7'],
      ['talkgroup', '100'],
      ['frequency', '851012500'],
      ['source', '42'],
      ['patches', '[101, 102, "x"]'],
      ['talkgroupLabel', `FD\nDispatch\u0000${'x'.repeat(500)}`],
    ]),
    NOW,
  )
  expect(call.startedAt).toBe(1767446100_250)
  expect(call.sources).toEqual([{ pos: 0, src: 42 }])
  expect(call.patches).toEqual([101, 102])
  expect(call.talkgroupLabel?.startsWith('FD Dispatch x')).toBe(true)
  expect(call.talkgroupLabel?.length).toBe(200)
})

test("trunk-recorder's call JSON and the OpenMHz form", () => {
  const meta = callFromTrunkRecorderMeta(
    '{"start_time": 1767446100, "stop_time": 1767446104, "talkgroup": 5, "emergency": 0, "srcList": [{"src": 9, "pos": 1.5, "tag": "A "B""}]}',
    '3',
    NOW,
  )
  expect(meta).toMatchObject({ system: 3, talkgroup: 5, reportedLength: 4, emergency: false })
  expect(meta.sources).toEqual([{ src: 9, pos: 1.5, tag: 'A "B"' }])
  expect(() => callFromTrunkRecorderMeta('{}', '3', NOW)).toThrow(IncompleteCallError)
  expect(() =>
    callFromTrunkRecorderMeta('{"start_time": 1767446100, "talkgroup": 5}', undefined, NOW),
  ).toThrow('Incomplete call data: no system')
  const omz = callFromOpenMhzForm(
    new Map([
      ['start_time', '1767446100'],
      ['talkgroup_num', '42'],
      ['emergency', '1'],
      ['call_length', '3'],
      ['source_list', '[{"pos": 0, "src": 7}]'],
    ]),
    9,
    NOW,
  )
  expect(omz).toMatchObject({
    system: 9,
    talkgroup: 42,
    emergency: true,
    reportedLength: 3,
    sources: [{ pos: 0, src: 7 }],
  })
})
