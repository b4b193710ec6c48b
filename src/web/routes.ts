import { Elysia } from 'elysia'

const page = (name: string) => () =>
  new Response(Bun.file(new URL(name, import.meta.url)), {
    headers: { 'content-type': 'text/html; charset=utf-8' },
  })

const script = (name: string) => () =>
  new Response(Bun.file(new URL(name, import.meta.url)), {
    headers: { 'content-type': 'text/javascript; charset=utf-8', 'cache-control': 'public, max-age=3600' },
  })

/** The pages people open in a browser. */
export const webRoutes = new Elysia({ name: 'web' })
  .get('/', page('./home.html'), { detail: { summary: 'Home page', tags: ['web'] } })
  .get('/audiobooks', page('./audiobooks.html'), { detail: { summary: 'Audiobook player', tags: ['web'] } })
  .get('/player', page('./player.html'), {
    detail: { summary: 'Track player, in sync across your devices', tags: ['web'] },
  })
  .get('/calls/:id', page('./call.html'), {
    detail: { summary: 'One scanner call: its details and player', tags: ['web'] },
  })
  .get('/assets/token-login.js', script('./token-login.js'), { detail: { hide: true } })
  .get('/assets/app-header.js', script('./app-header.js'), { detail: { hide: true } })
