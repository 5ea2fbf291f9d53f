// What the guard reads: an AdmissionReview as UTF-8 JSON, sent as it is. The API server sends exactly that
// (`Content-Type: application/json`, no content coding). A request that says otherwise is refused before its body is
// read: judging a body the client labelled UTF-16, or gzip, as if it were plain UTF-8 JSON would decide on bytes
// that do not mean what the client meant (docs/operations.md, Requests the guard refuses).
import type { IncomingHttpHeaders } from 'node:http';

/** Why the request's headers rule its body out: 415 for the content's type or coding, 501 for a transfer coding. */
export interface HeaderRefusal {
  status: 415 | 501;
  reason: string;
}

/** A header value as it may appear in a reason: quoted, at most 100 characters. */
const shown = (value: string) => JSON.stringify(value.length > 100 ? `${value.slice(0, 100)}...` : value);

/** The parameters of a media type (`type/subtype; name=value; name="quoted value"`), names lower-cased. */
function mediaParameters(text: string): { mediaType: string; parameters: [string, string][] } {
  const [mediaType, ...rest] = splitOutsideQuotes(text, ';');
  const parameters: [string, string][] = [];
  for (const p of rest) {
    const eq = p.indexOf('=');
    if (eq < 0) continue;
    let value = p.slice(eq + 1).trim();
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"'))
      value = value.slice(1, -1).replace(/\\(.)/g, '$1');
    parameters.push([p.slice(0, eq).trim().toLowerCase(), value]);
  }
  return { mediaType: mediaType.trim().toLowerCase(), parameters };
}

/** `text` split at each `sep` that is not inside a quoted string. */
function splitOutsideQuotes(text: string, sep: string): string[] {
  const parts: string[] = [];
  let start = 0;
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted && c === '\\') i++;
    else if (c === '"') quoted = !quoted;
    else if (c === sep && !quoted) {
      parts.push(text.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(text.slice(start));
  return parts;
}

/** The codings of a comma-separated coding list (Content-Encoding, Transfer-Encoding), lower-cased, empty ones dropped. */
const codings = (value: string) =>
  value
    .split(',')
    .map((c) => c.trim().toLowerCase())
    .filter((c) => c !== '');

/**
 * The refusal a request's headers call for, or undefined when its body is UTF-8 JSON sent as is:
 * - Content-Type must be `application/json`, its charset absent (UTF-8, as RFC 8259 says) or `utf-8`;
 * - Content-Encoding absent or `identity`: the guard does not decompress;
 * - Transfer-Encoding absent or `chunked`: the only transfer coding Node's parser removes.
 */
export function refuseContentHeaders(headers: IncomingHttpHeaders): HeaderRefusal | undefined {
  const type = headers['content-type'] ?? '';
  const { mediaType, parameters } = mediaParameters(type);
  if (mediaType !== 'application/json')
    return { status: 415, reason: `unsupported Content-Type ${shown(type)}: expected application/json` };
  for (const [name, value] of parameters) {
    if (name === 'charset' && value.toLowerCase() !== 'utf-8')
      return { status: 415, reason: `unsupported charset ${shown(value)} in Content-Type: only utf-8 JSON is read` };
  }
  const encodings = codings(headers['content-encoding'] ?? '').filter((c) => c !== 'identity');
  if (encodings.length > 0)
    return {
      status: 415,
      reason: `unsupported Content-Encoding ${shown(encodings.join(', '))}: the body must be sent uncompressed (identity)`,
    };
  const transfer = codings(headers['transfer-encoding'] ?? '').filter((c) => c !== 'chunked');
  if (transfer.length > 0)
    return { status: 501, reason: `unsupported Transfer-Encoding ${shown(transfer.join(', '))}: only chunked is read` };
  return undefined;
}
