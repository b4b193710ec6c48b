// What the signed-in pages (the player and the audiobook player) share: where their token comes from and the
// login form shown when there is none or it was refused. Each page has `#login` (with `#token-form` and
// `#token-input`) and `#app`.

const STORAGE_KEY = 'airwave-token'
const byId = (id) => document.getElementById(id)

/** The token: taken once from `?token=` (which then leaves the address bar) and kept in this browser. */
export function storedToken() {
  const params = new URLSearchParams(location.search)
  if (params.has('token')) {
    localStorage.setItem(STORAGE_KEY, params.get('token'))
    params.delete('token')
    history.replaceState(null, '', `${location.pathname}${params.size ? `?${params}` : ''}${location.hash}`)
  }
  return localStorage.getItem(STORAGE_KEY)
}

/** Shows the login form instead of the page, with `message` as the input's hint. */
export function showLogin(message) {
  byId('login').hidden = false
  byId('app').hidden = true
  if (message) byId('token-input').placeholder = message
}

/**
 * Starts the page with `start(token)`: at once when a token is stored, else (and again) when one is pasted into
 * the login form, which is then stored.
 */
export function startWithToken(token, start) {
  const open = (value) => {
    byId('login').hidden = true
    byId('app').hidden = false
    start(value)
  }
  byId('token-form').addEventListener('submit', (event) => {
    event.preventDefault()
    const pasted = byId('token-input').value.trim()
    localStorage.setItem(STORAGE_KEY, pasted)
    open(pasted)
  })
  if (token) open(token)
  else showLogin()
}
