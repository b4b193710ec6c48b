/** The process's memory in the shape every status route reports it (bytes). */
export function memoryUsage(): { rss: number; heapTotal: number; heapUsed: number; external: number } {
  const { rss, heapTotal, heapUsed, external } = process.memoryUsage()
  return { rss, heapTotal, heapUsed, external }
}
