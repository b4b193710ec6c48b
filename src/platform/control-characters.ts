/**
 * The control characters, defined once for every check that refuses or strips them. Each is the body of a regex
 * character class, so a check composes exactly the set it means: `new RegExp(`[${ASCII_CONTROLS}]`)`.
 */

/** C0 controls U+0000–U+001F (NUL, tab, line breaks, escape…) and DEL U+007F: the ASCII control characters. */
export const ASCII_CONTROLS = '\\u0000-\\u001f\\u007f'

/** C1 controls U+0080–U+009F: no one types them; they come from Latin-1 bytes read as text, or from an attacker. */
export const C1_CONTROLS = '\\u0080-\\u009f'

/** Every control character (Unicode's category Cc): the ASCII ones and C1. */
export const ALL_CONTROLS = `${ASCII_CONTROLS}${C1_CONTROLS}`
