// Stopping without failing a call: what the webhook listener does between SIGTERM and exit.
//
// Admission calls reach a replica two ways. New connections follow the Service's endpoints, which stop naming a
// deleted pod only a moment after its deletion (pod → endpointslice controller → EndpointSlice → the API server's or
// kube-proxy's view; seconds on a busy node). Kept-alive connections do not follow the endpoints at all: the API
// server goes on sending calls on a connection it already has to this replica, whatever the endpoints say. Closing
// the listener and every connection at SIGTERM therefore fails, open, the calls in flight and those sent on a
// kept-alive connection just then. So a stopping replica:
//   1. reports not ready (readiness check `serving`), and from now on answers every call with `Connection: close`,
//      calls already in flight included: the connection ends after the answer, and the API server's next call dials
//      anew, to a replica the endpoints still name;
//   2. keeps the listener open for the drain delay, answering whatever still arrives, new connections included;
//   3. then closes the listener (and the connections that are idle), lets the calls in flight finish (each is
//      answered by its decision deadline, shorter than the webhook's timeout), and closes what is left after that.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Logger } from '../log';
import { SlotSet } from '../../lib/slot-set';

/** The part of an http(s).Server a drain uses. */
export interface DrainableServer {
  prependListener(event: 'request', listener: (req: IncomingMessage, res: ServerResponse) => void): unknown;
  close(callback?: (err?: Error) => void): unknown;
  closeAllConnections(): void;
}

export interface DrainTiming {
  /** how long the listener keeps accepting after the stop began */
  drainMs: number;
  /** the longest the calls still in flight when the listener closes are waited for */
  inflightMaxMs: number;
}

export interface DrainResult {
  /** calls answered after the stop began */
  answeredWhileDraining: number;
  /** calls still unanswered when the connections were closed (0 unless one overran its deadline) */
  cutOff: number;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export class ListenerDrain {
  private stopping = false;
  /** the calls in flight; not a Set, which kept every call's request alive past two scavenges (lib/slot-set.ts) */
  private readonly inflight = new SlotSet<ServerResponse>();
  private answeredWhileDraining = 0;
  private settled?: () => void;
  private server?: DrainableServer;

  constructor(private readonly log: Logger) {}

  /** Follows the calls of `server` (the readiness check may exist before the listener does). */
  attach(server: DrainableServer): void {
    this.server = server;
    // first, before the app: the header must be set before any route writes its answer
    server.prependListener('request', (_req, res) => {
      const slot = this.inflight.add(res);
      if (this.stopping) res.setHeader('Connection', 'close');
      res.once('close', () => {
        this.inflight.remove(slot);
        if (this.stopping) this.answeredWhileDraining++;
        if (this.inflight.size === 0) this.settled?.();
      });
    });
  }

  /** False once the stop began: the readiness check that takes the replica out of the endpoints. */
  get serving(): boolean {
    return !this.stopping;
  }

  get inflightCount(): number {
    return this.inflight.size;
  }

  /** Drains and closes (steps 1-3 above); resolves when every connection is closed. */
  async stop(timing: DrainTiming): Promise<DrainResult> {
    const server = this.server;
    if (!server) throw new Error('ListenerDrain.stop before attach');
    this.stopping = true;
    for (const res of this.inflight.values()) if (!res.headersSent) res.setHeader('Connection', 'close');
    this.log.info(
      { drainMs: timing.drainMs, inflight: this.inflight.size },
      'draining: not ready, answering with Connection: close, listener open',
    );
    if (timing.drainMs > 0) await sleep(timing.drainMs);
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    if (this.inflight.size > 0) {
      const settled = new Promise<void>((resolve) => (this.settled = resolve));
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        settled,
        new Promise<void>((resolve) => (timer = setTimeout(resolve, timing.inflightMaxMs))),
      ]);
      clearTimeout(timer);
    }
    const cutOff = this.inflight.size;
    if (cutOff > 0)
      this.log.warn(
        { cutOff, inflightMaxMs: timing.inflightMaxMs },
        'calls still in flight when the drain ended: closing their connections',
      );
    server.closeAllConnections();
    await closed;
    this.log.info({ answeredWhileDraining: this.answeredWhileDraining, cutOff }, 'listener closed');
    return { answeredWhileDraining: this.answeredWhileDraining, cutOff };
  }
}
