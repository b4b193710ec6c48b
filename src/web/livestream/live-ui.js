// What the broadcaster and viewer pages share: element look-up, the state badge and the error list.

export const $ = (id) => document.getElementById(id)

/** Shows `state` on the page (`data-state` for tests and CSS) and in the badge. */
export function setState(state, label = state) {
  document.body.dataset.state = state
  $('badge').textContent = label
  $('badge').className = `badge ${state === 'live' ? 'live' : state === 'ended' ? 'ended' : ''}`
}

/** Adds `text` to the top of the page's error list. */
export function showError(text) {
  const item = document.createElement('li')
  item.textContent = text
  $('errors').prepend(item)
}
