/** Text from clients or file tags made safe to show: in JSON, logs, M3U lines and page titles. */
import { ALL_CONTROLS } from './control-characters.ts'

const CONTROL_CHARACTERS = new RegExp(`[${ALL_CONTROLS}]+`, 'g')

/** Control characters (newlines included) become spaces, so a title can never break an M3U line or a log line. */
export function cleanTitle(raw: string): string {
  return raw.replace(CONTROL_CHARACTERS, ' ').replace(/\s+/g, ' ').trim()
}
