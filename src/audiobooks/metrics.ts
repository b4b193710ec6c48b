import { Counter } from 'prom-client'
import { registry } from '../platform/metrics.ts'

/** Audiobook processing metrics, served at /metrics. */
export const audiobookMetrics = {
  chaptersTranscoded: new Counter({
    name: 'airwave_audiobook_chapters_transcoded_total',
    help: 'Audiobook chapters transcoded to MP3 by this instance (chapters uploaded as MP3 are stored as they are)',
    registers: [registry],
  }),
  jobs: new Counter({
    name: 'airwave_audiobook_jobs_total',
    help: 'Audiobook jobs this instance finished, by outcome: completed, failed, or released (another instance holds it, or it was deleted)',
    labelNames: ['outcome'] as const,
    registers: [registry],
  }),
}
