import { describe, expect, test } from 'bun:test'
import { chapterLabel, formatSeconds, m3u } from '../../src/audiobooks/playlist.ts'

describe('M3U playlists', () => {
  test('multi-chapter, in the document form, with real durations', () => {
    expect(
      m3u([
        {
          duration: 300,
          title: chapterLabel(1, 'Introduction'),
          url: 'https://cdn.test/chapter_1.mp3?sig=a',
        },
        {
          duration: 450.0371,
          title: chapterLabel(2, 'The Journey Begins'),
          url: 'https://cdn.test/chapter_2.mp3',
        },
        { duration: 2.5, title: chapterLabel(3, 'Chapter 3'), url: 'https://cdn.test/chapter_3.mp3' },
      ]),
    ).toBe(
      '#EXTM3U\n' +
        '#EXTINF:300,Chapter 1 - Introduction\nhttps://cdn.test/chapter_1.mp3?sig=a\n' +
        '#EXTINF:450.037,Chapter 2 - The Journey Begins\nhttps://cdn.test/chapter_2.mp3\n' +
        '#EXTINF:2.5,Chapter 3\nhttps://cdn.test/chapter_3.mp3\n',
    )
  })

  test('single file', () => {
    expect(m3u([{ duration: 120.5, title: 'Audio Book Title', url: 'https://cdn.test/audio.mp3' }])).toBe(
      '#EXTM3U\n#EXTINF:120.5,Audio Book Title\nhttps://cdn.test/audio.mp3\n',
    )
  })

  test('a title can never add a line', () => {
    expect(m3u([{ duration: 1, title: 'a\r\n#EXTINF:1,evil\nhttp://evil', url: 'u' }])).toBe(
      '#EXTM3U\n#EXTINF:1,a #EXTINF:1,evil http://evil\nu\n',
    )
  })

  test('seconds keep at most three decimals', () => {
    expect(formatSeconds(2.0375510001)).toBe('2.038')
    expect(formatSeconds(3)).toBe('3')
  })
})
