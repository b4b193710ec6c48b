import pino from 'pino'

/** Structured JSON logs on stdout. Level from LOG_LEVEL (read here so tooling that never loads config still logs). */
export const log = pino({
  level: process.env.LOG_LEVEL ?? 'info',
  base: undefined,
  timestamp: pino.stdTimeFunctions.isoTime,
  redact: {
    paths: ['token', 'authorization', 'apiKey', '*.token', '*.authorization', '*.apiKey'],
    censor: '[redacted]',
  },
})

export type Logger = typeof log
