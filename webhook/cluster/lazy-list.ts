// A LIST response parsed one item at a time. JSON.parse of a whole page builds every object of the page at once
// (a page of 500 kubelet Nodes is tens of MB of objects); they outlive the young generation while the page is
// trimmed, get promoted, and the old generation the guard keeps afterwards grows by that garbage (measured at 100,000
// pods: RSS after sync rose from 336 to 450 MB between pages of 100 and 2,000, the live heap unchanged). Here the
// page's text is scanned for the items array's element boundaries, the other top-level fields are parsed at once,
// and each item is parsed when the caller takes it: it becomes garbage before the next one exists.

export class LazyListError extends Error {}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const COMMA = 0x2c;
const COLON = 0x3a;

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

function skipSpace(text: string, i: number): number {
  while (i < text.length && isSpace(text.charCodeAt(i))) i++;
  return i;
}

/** Index just past the string starting at `i` (its opening quote). */
function skipString(text: string, i: number): number {
  let j = i + 1;
  for (;;) {
    const q = text.indexOf('"', j);
    if (q < 0) throw new LazyListError(`unterminated string at ${i}`);
    let backslashes = 0;
    for (let k = q - 1; k > i && text.charCodeAt(k) === BACKSLASH; k--) backslashes++;
    if (backslashes % 2 === 0) return q + 1;
    j = q + 1;
  }
}

/** Index just past the JSON value starting at `i` (no leading space). Checks nesting only; JSON.parse checks the rest. */
function skipValue(text: string, i: number): number {
  const c = text.charCodeAt(i);
  if (c === QUOTE) return skipString(text, i);
  if (c !== OPEN_BRACE && c !== OPEN_BRACKET) {
    let j = i;
    while (j < text.length) {
      const d = text.charCodeAt(j);
      if (d === COMMA || d === CLOSE_BRACE || d === CLOSE_BRACKET || isSpace(d)) break;
      j++;
    }
    if (j === i) throw new LazyListError(`value expected at ${i}`);
    return j;
  }
  let depth = 0;
  for (let j = i; j < text.length; j++) {
    const d = text.charCodeAt(j);
    if (d === QUOTE) j = skipString(text, j) - 1;
    else if (d === OPEN_BRACE || d === OPEN_BRACKET) depth++;
    else if (d === CLOSE_BRACE || d === CLOSE_BRACKET) {
      if (--depth === 0) return j + 1;
    }
  }
  throw new LazyListError(`unterminated value at ${i}`);
}

export interface LazyList {
  /** every top-level field but `items`, parsed */
  head: Record<string, unknown>;
  /** the number of items (known from the scan, before any is parsed) */
  count: number;
  /** the items, each parsed when taken; `parsed` receives the milliseconds each JSON.parse took */
  items(parsed?: (ms: number) => void): Iterable<Record<string, unknown>>;
}

/**
 * Scans a JSON object whose `items` is an array (a Kubernetes list). Throws LazyListError when the text is not an
 * object of that shape, SyntaxError (from JSON.parse) when a field or, later, an item is not valid JSON.
 */
export function lazyList(text: string): LazyList {
  const head: Record<string, unknown> = {};
  const spans: number[] = []; // start, end of each item
  let i = skipSpace(text, 0);
  if (text.charCodeAt(i) !== OPEN_BRACE) throw new LazyListError('not a JSON object');
  i = skipSpace(text, i + 1);
  while (text.charCodeAt(i) !== CLOSE_BRACE) {
    if (text.charCodeAt(i) !== QUOTE) throw new LazyListError(`field name expected at ${i}`);
    const keyEnd = skipString(text, i);
    const key = JSON.parse(text.slice(i, keyEnd)) as string;
    i = skipSpace(text, keyEnd);
    if (text.charCodeAt(i) !== COLON) throw new LazyListError(`':' expected at ${i}`);
    i = skipSpace(text, i + 1);
    if (key === 'items' && text.charCodeAt(i) === OPEN_BRACKET) {
      i = skipSpace(text, i + 1);
      while (text.charCodeAt(i) !== CLOSE_BRACKET) {
        const end = skipValue(text, i);
        spans.push(i, end);
        i = skipSpace(text, end);
        if (text.charCodeAt(i) === COMMA) i = skipSpace(text, i + 1);
        else if (text.charCodeAt(i) !== CLOSE_BRACKET) throw new LazyListError(`',' or ']' expected at ${i}`);
      }
      i++;
    } else {
      const end = skipValue(text, i);
      head[key] = JSON.parse(text.slice(i, end));
      i = end;
    }
    i = skipSpace(text, i);
    if (text.charCodeAt(i) === COMMA) i = skipSpace(text, i + 1);
    else if (text.charCodeAt(i) !== CLOSE_BRACE) throw new LazyListError(`',' or '}' expected at ${i}`);
  }
  if (skipSpace(text, i + 1) !== text.length) throw new LazyListError(`trailing characters at ${i + 1}`);
  return {
    head,
    count: spans.length / 2,
    *items(parsed) {
      for (let k = 0; k < spans.length; k += 2) {
        const t0 = parsed ? performance.now() : 0;
        const item = JSON.parse(text.slice(spans[k], spans[k + 1])) as Record<string, unknown>;
        if (parsed) parsed(performance.now() - t0);
        yield item;
      }
    },
  };
}
