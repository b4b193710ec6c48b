/**
 * The header every Airwave page shares: links to the other pages and the connection status. A page includes this
 * module once; the header is put first in <body>. The status shows whether the server answers (/health, every 30 s)
 * and, when the page reports one, its own live connection: pages dispatch
 * `window.dispatchEvent(new CustomEvent('airwave:connection', { detail: { state: 'ok'|'busy'|'error', text } }))`.
 */
const LINKS = [
  ['/', 'Radio'],
  ['/player', 'Player'],
  ['/audiobooks', 'Audiobooks'],
  ['/live', 'Livestreams'],
  ['/inspector', 'Inspector'],
]

const style = document.createElement('style')
style.textContent = `
  .airwave-header { display: flex; align-items: center; gap: 0.25rem 1rem; flex-wrap: wrap; padding: 0.5rem 0 0.75rem;
    margin-bottom: 1rem; border-bottom: 1px solid #e1e5eb; font: 15px/1.4 system-ui, sans-serif; }
  .airwave-header .brand { font-weight: 700; color: inherit; text-decoration: none; margin-right: 0.5rem; }
  .airwave-header nav { display: flex; gap: 0.75rem; flex-wrap: wrap; }
  .airwave-header nav a { color: #35507a; text-decoration: none; }
  .airwave-header nav a[aria-current="page"] { font-weight: 700; text-decoration: underline; }
  .airwave-header .connection-status { margin-left: auto; padding: 0.05rem 0.6rem; border-radius: 1rem; background: #ddd; font-size: 0.85rem; }
  .airwave-header .connection-status[data-state="ok"] { background: #c9f2d3; }
  .airwave-header .connection-status[data-state="error"] { background: #f8d0d0; }
`

function build() {
  const header = document.createElement('div')
  header.className = 'airwave-header'
  header.setAttribute('role', 'banner')
  const brand = document.createElement('a')
  brand.className = 'brand'
  brand.href = '/'
  brand.textContent = 'Airwave'
  const nav = document.createElement('nav')
  nav.setAttribute('aria-label', 'Airwave pages')
  const here = location.pathname
  for (const [href, text] of LINKS) {
    const link = document.createElement('a')
    link.href = href
    link.textContent = text
    const current = href === '/' ? here === '/' || here.startsWith('/calls/') : here.startsWith(href)
    if (current) link.setAttribute('aria-current', 'page')
    nav.append(link)
  }
  const status = document.createElement('span')
  status.className = 'connection-status'
  status.dataset.state = 'busy'
  status.textContent = 'connecting…'
  header.append(brand, nav, status)
  document.head.append(style)
  document.body.prepend(header)

  let server = { state: 'busy', text: 'connecting…' }
  let page = null
  const show = () => {
    const worst = [server, page].filter(Boolean).find((s) => s.state === 'error') ?? page ?? server
    status.dataset.state = worst.state
    status.textContent = page && server.state === 'ok' ? page.text : server.text
  }
  window.addEventListener('airwave:connection', (event) => {
    page = event.detail
    show()
  })
  const check = async () => {
    try {
      const response = await fetch('/health', { cache: 'no-store' })
      const health = await response.json()
      server =
        health.status === 'ok'
          ? { state: 'ok', text: 'server ok' }
          : { state: 'error', text: `server ${health.status}` }
    } catch {
      server = { state: 'error', text: 'server unreachable' }
    }
    show()
  }
  check()
  setInterval(check, 30_000)
}

if (document.body) build()
else document.addEventListener('DOMContentLoaded', build, { once: true })
