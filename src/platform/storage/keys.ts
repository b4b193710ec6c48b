/** Blob key rules shared by every store, so a key valid on local disk is valid on S3 and the reverse. */
import { ASCII_CONTROLS } from '../control-characters.ts'
import { BadRequestError } from '../errors.ts'

const MAX_KEY_LENGTH = 1024
/** A backslash or an ASCII control character (C1 controls are allowed: a local file name or an S3 key holds them). */
const FORBIDDEN_IN_KEY = new RegExp(`[\\\\${ASCII_CONTROLS}]`)

/**
 * Throws BadRequestError unless `key` is a relative, slash-separated path whose segments are non-empty, not
 * dot-led (ruling out `.` and `..`, and reserving dot names for the local store's own files), and free of
 * backslashes and control characters. This is what keeps every local key inside the root directory.
 */
export function assertValidKey(key: string): void {
  assertValidPath(key, 'key')
}

/** A prefix follows the key rules, except that it may end with `/` (e.g. `jobs/42/`). Empty is refused. */
export function assertValidPrefix(prefix: string): void {
  assertValidPath(prefix.endsWith('/') ? prefix.slice(0, -1) : prefix, 'prefix')
}

function assertValidPath(path: string, what: string): void {
  const invalid = (reason: string) =>
    new BadRequestError(`Invalid blob ${what}: ${reason}`, 'INVALID_BLOB_KEY')
  if (path === '') throw invalid('empty')
  if (path.length > MAX_KEY_LENGTH) throw invalid('too long')
  if (FORBIDDEN_IN_KEY.test(path)) throw invalid('backslash or control character')
  for (const segment of path.split('/')) {
    if (segment === '') throw invalid('empty segment or absolute path')
    if (segment.startsWith('.')) throw invalid('segment starts with "."')
  }
}

/** Keys are percent-encoded per segment so `/` stays a separator and everything else round-trips. */
export function encodeKey(key: string): string {
  return key.split('/').map(encodeURIComponent).join('/')
}
