// Size bounds of what the guard copies from a request into responses and log lines (docs/rules.md, Enforcement
// modes, "Bounds"): a writer chooses these strings, so a 256 KiB uid must not become 256 KiB per line.

/** Names, uids, users, IP keys: at most this many characters where they are copied. */
export const MAX_NAME_CHARS = 256;
/** Free text built around writer-chosen strings (a violation's detail, a decode error): at most this many. */
export const MAX_DETAIL_CHARS = 1024;

const ELLIPSIS = '…';

/** The text cut to `max` characters (the last one an ellipsis when cut); never splits a surrogate pair. */
export function cut(text: string, max = MAX_NAME_CHARS): string {
  if (text.length <= max) return text;
  let end = max - ELLIPSIS.length;
  const code = text.charCodeAt(end - 1);
  if (code >= 0xd800 && code <= 0xdbff) end--;
  return text.slice(0, end) + ELLIPSIS;
}
