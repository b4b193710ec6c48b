import { Elysia } from 'elysia'

const pages = new URL('../web/livestream/', import.meta.url)
/** hls.js from node_modules: the viewer never loads code from a CDN. */
const HLS_JS = Bun.resolveSync('hls.js/dist/hls.min.js', import.meta.dir)

const html = (name: string) => () =>
  new Response(Bun.file(new URL(name, pages)), { headers: { 'content-type': 'text/html; charset=utf-8' } })

const asset = (path: string | URL, type: string) => () =>
  new Response(Bun.file(path), { headers: { 'content-type': type, 'cache-control': 'public, max-age=3600' } })

/** The livestream pages: the list of live streams, the broadcaster and the viewer, and their assets. */
export const livestreamPages = new Elysia({ name: 'livestream-pages' })
  .get('/live', html('list.html'), { detail: { summary: 'Live streams page', tags: ['web'] } })
  .get('/live/broadcast', html('broadcast.html'), { detail: { summary: 'Broadcaster page', tags: ['web'] } })
  .get('/live/:streamId', html('viewer.html'), { detail: { summary: 'Viewer page', tags: ['web'] } })
  .get('/live/assets/live.css', asset(new URL('live.css', pages), 'text/css; charset=utf-8'), {
    detail: { hide: true },
  })
  .get('/live/assets/live-ui.js', asset(new URL('live-ui.js', pages), 'text/javascript; charset=utf-8'), {
    detail: { hide: true },
  })
  .get('/live/assets/hls.min.js', asset(HLS_JS, 'text/javascript; charset=utf-8'), { detail: { hide: true } })
