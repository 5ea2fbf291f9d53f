// A raw HTTPS/1.1 client for the admission server's HTTP-level tests: it writes the exact request bytes (the headers
// as given, the body by Content-Length or chunked) and keeps writing its whole body even after the server has
// answered, as a client that writes before it reads does. The answer is parsed from the bytes it received; the
// connection is ended by the client once it has sent everything and read a whole answer, or by the server.
import tls from 'node:tls';

export interface RawRequest {
  path: string;
  headers: Record<string, string>;
  /** the body's bytes, or a count of filler bytes (spaces) to send */
  body: Buffer | { bytes: number };
  /** send the body chunked, no Content-Length; a string is the Transfer-Encoding header's value (default chunked) */
  chunked?: boolean | string;
}

export interface RawAnswer {
  /** 0 when no answer arrived */
  status: number;
  headers: Record<string, string>;
  text: string;
  json(): Record<string, unknown>;
  /** body bytes the client had written when the connection ended */
  sent: number;
  /** the error the connection ended with, if any (ECONNRESET, EPIPE) */
  error?: string;
  /** who ended the connection: the server, in order (FIN / close_notify), the client after a whole answer, or a reset */
  endedBy: 'server' | 'client' | 'error';
}

const PIECE = 64 * 1024;
const FILLER = Buffer.alloc(PIECE, 0x20);

interface Parsed {
  status: number;
  headers: Record<string, string>;
  text: string;
  complete: boolean;
}

function parseAnswer(raw: Buffer): Parsed {
  const head = raw.indexOf('\r\n\r\n');
  if (head < 0) return { status: 0, headers: {}, text: '', complete: false };
  const [statusLine, ...lines] = raw.subarray(0, head).toString('latin1').split('\r\n');
  const headers: Record<string, string> = {};
  for (const l of lines) {
    const colon = l.indexOf(':');
    headers[l.slice(0, colon).trim().toLowerCase()] = l.slice(colon + 1).trim();
  }
  const length = Number(headers['content-length'] ?? NaN);
  const body = raw.subarray(head + 4);
  const complete = !Number.isNaN(length) && body.length >= length;
  return {
    status: Number(statusLine.split(' ')[1]),
    headers,
    text: (complete ? body.subarray(0, length) : body).toString('utf8'),
    complete,
  };
}

/** Sends the request over a fresh TLS connection; resolves once the connection has closed. */
export function rawRequest(port: number, ca: string, r: RawRequest): Promise<RawAnswer> {
  return new Promise((resolve) => {
    // half-open: the client's side stays writable after the server has ended its side (typed for net sockets only)
    const options: tls.ConnectionOptions & { allowHalfOpen: boolean } = {
      host: '127.0.0.1',
      port,
      ca,
      servername: 'localhost',
      allowHalfOpen: true,
    };
    const socket = tls.connect(options);
    const received: Buffer[] = [];
    const total = Buffer.isBuffer(r.body) ? r.body.length : r.body.bytes;
    let error: string | undefined;
    let serverEnded = false;
    let sent = 0;
    let bodyDone = false;
    const finishIfDone = () => {
      if (bodyDone && !socket.writableEnded && parseAnswer(Buffer.concat(received)).complete) socket.end();
    };
    socket.on('data', (c: Buffer) => {
      received.push(c);
      finishIfDone();
    });
    socket.on('error', (e: NodeJS.ErrnoException) => (error = e.code ?? e.message));
    socket.on('end', () => {
      serverEnded = true;
      // the server has said all it will: keep writing the body (allowHalfOpen), then close
      if (bodyDone) socket.end();
    });
    socket.on('close', () => {
      const p = parseAnswer(Buffer.concat(received));
      resolve({
        status: p.status,
        headers: p.headers,
        text: p.text,
        json: () => JSON.parse(p.text) as Record<string, unknown>,
        sent,
        error,
        endedBy: error ? 'error' : serverEnded ? 'server' : 'client',
      });
    });
    const framing = r.chunked
      ? `Transfer-Encoding: ${r.chunked === true ? 'chunked' : r.chunked}`
      : `Content-Length: ${total}`;
    const head = Object.entries(r.headers)
      .map(([k, v]) => `${k}: ${v}\r\n`)
      .join('');
    socket.write(`POST ${r.path} HTTP/1.1\r\nHost: localhost\r\n${head}${framing}\r\n\r\n`);
    const pieceAt = (offset: number) =>
      Buffer.isBuffer(r.body)
        ? r.body.subarray(offset, offset + PIECE)
        : FILLER.subarray(0, Math.min(PIECE, total - offset));
    const pump = () => {
      while (sent < total && !socket.destroyed) {
        const piece = pieceAt(sent);
        sent += piece.length;
        let more: boolean;
        if (r.chunked) {
          socket.write(`${piece.length.toString(16)}\r\n`);
          socket.write(piece);
          more = socket.write('\r\n');
        } else more = socket.write(piece);
        if (!more) {
          socket.once('drain', pump);
          return;
        }
      }
      if (socket.destroyed) return;
      if (r.chunked) socket.write('0\r\n\r\n');
      bodyDone = true;
      if (serverEnded) socket.end();
      else finishIfDone();
    };
    pump();
  });
}
