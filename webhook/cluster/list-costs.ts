// Where a cache's first sync spends its time, per resource: how long the API server took to start answering each
// LIST page, how long the body took to arrive, its size, the JSON parse and the trim into facts. A streaming list
// counts as one page: time to its first event, then its events up to the bookmark that ends the initial state. Collected only when
// asked for (bench scale's probe); the reflectors behave the same either way.

/** What one GET cost the client (KubeHttpClient.getJson fills it in). */
export interface ResponseTiming {
  /** request sent → first byte of the response (the API server's work before it starts writing) */
  ttfbMs: number;
  /** first → last byte of the body (transfer, and the server encoding while it streams) */
  bodyMs: number;
  bytes: number;
  parseMs: number;
}

export interface ResourceListCost {
  /** 'list' (LIST pages) or 'watch-list' (a streaming list, counted as one page up to its end bookmark) */
  method: string;
  pages: number;
  items: number;
  bytes: number;
  /** sums over the pages */
  ttfbMs: number;
  bodyMs: number;
  parseMs: number;
  trimMs: number;
  /** the slowest page's time to first byte */
  maxTtfbMs: number;
  /** first request sent → last item trimmed */
  wallMs: number;
}

export function emptyTiming(): ResponseTiming {
  return { ttfbMs: 0, bodyMs: 0, bytes: 0, parseMs: 0 };
}

export class ListCosts {
  private readonly byResource = new Map<string, ResourceListCost & { startedAt: number }>();

  constructor(private readonly now: () => number = () => performance.now()) {}

  private of(resource: string): ResourceListCost & { startedAt: number } {
    let c = this.byResource.get(resource);
    if (!c) {
      c = {
        method: 'list',
        pages: 0,
        items: 0,
        bytes: 0,
        ttfbMs: 0,
        bodyMs: 0,
        parseMs: 0,
        trimMs: 0,
        maxTtfbMs: 0,
        wallMs: 0,
        startedAt: this.now(),
      };
      this.byResource.set(resource, c);
    }
    return c;
  }

  /** A page is about to be requested: the first one starts the resource's wall clock. */
  requesting(resource: string): void {
    this.of(resource);
  }

  page(resource: string, t: ResponseTiming, items: number, method = 'list'): void {
    const c = this.of(resource);
    c.method = method;
    c.pages++;
    c.items += items;
    c.bytes += t.bytes;
    c.ttfbMs += t.ttfbMs;
    c.bodyMs += t.bodyMs;
    c.parseMs += t.parseMs;
    c.maxTtfbMs = Math.max(c.maxTtfbMs, t.ttfbMs);
    c.wallMs = this.now() - c.startedAt; // a streaming list's items are all trimmed when its one "page" completes
  }

  /** JSON.parse of items parsed one at a time, after their page arrived */
  parsed(resource: string, ms: number): void {
    this.of(resource).parseMs += ms;
  }

  trimmed(resource: string, ms: number): void {
    const c = this.of(resource);
    c.trimMs += ms;
    c.wallMs = this.now() - c.startedAt;
  }

  report(): Record<string, ResourceListCost> {
    const out: Record<string, ResourceListCost> = {};
    for (const [resource, { startedAt: _, ...c }] of this.byResource) out[resource] = c;
    return out;
  }
}
