/** Text from clients or file tags made safe to show: in JSON, logs, M3U lines and page titles. */

// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point.
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f-\u009f]+/g

/** Control characters (newlines included) become spaces, so a title can never break an M3U line or a log line. */
export function cleanTitle(raw: string): string {
  return raw.replace(CONTROL_CHARACTERS, ' ').replace(/\s+/g, ' ').trim()
}
