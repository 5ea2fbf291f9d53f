// A refusal sent before the request's body was read (413, 429, 415, 501) ends the connection after the answer, but
// only once the client can read it. Closing a socket while the client's bytes still wait unread in it makes the
// kernel reset the connection (TCP RST): the client, still writing its body, sees "connection reset" instead of the
// answer, and a client that writes its whole body before it reads (as many do) never gets to read it. So the rest
// of the body is read and dropped (never held: it costs no memory) until it ends, within bounds, and only then is
// the connection closed, in order.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Socket } from 'node:net';
import { BODY_LIMIT_BYTES } from './body';

export interface DrainBounds {
  /** bytes of the rest of the body read and dropped before the connection is cut */
  maxBytes: number;
  /** milliseconds from the refusal until the connection is cut, whatever the client is still sending */
  maxMs: number;
}

/**
 * What a refused client may still send: four bodies at the size limit (a body of twice the limit, sent whole, ends
 * well inside it), for at most 10 s. Reading and dropping 64 MiB costs about as much CPU as receiving one review
 * at the limit, and the request deadline of the server (30 s) stays the outer bound.
 */
export const DRAIN_BOUNDS: DrainBounds = { maxBytes: 4 * BODY_LIMIT_BYTES, maxMs: 10_000 };

/**
 * Sends `Connection: close` with the answer and keeps reading (and dropping) what the client still sends: the
 * connection ends in order once the body has ended and the answer is written. Past the bounds it is cut (reset);
 * by then the answer has long been sent.
 */
export function closeAfterAnswer(req: IncomingMessage, res: ServerResponse, bounds: DrainBounds): void {
  res.setHeader('Connection', 'close');
  if (req.complete) return; // nothing left unread: Node's own close after the answer is in order
  const socket = req.socket;
  const cut = () => socket.destroy();
  const timer = setTimeout(cut, bounds.maxMs);
  timer.unref();
  socket.once('close', () => clearTimeout(timer));
  let dropped = 0;
  req.on('data', (chunk: Buffer) => {
    dropped += chunk.length;
    if (dropped > bounds.maxBytes) cut();
  });
  req.on('error', () => undefined); // the client went away: there is no one left to answer
  req.resume();
  // Node's server calls destroySoon() once an answer carrying `Connection: close` is written, and that destroys the
  // socket as soon as the answer's bytes are out, unread bytes or not. This socket waits for the body's end first.
  socket.destroySoon = () => {
    const close = () => Socket.prototype.destroySoon.call(socket);
    if (req.complete) close();
    else req.once('end', close);
  };
}
