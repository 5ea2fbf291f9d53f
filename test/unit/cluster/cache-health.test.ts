// Caches that know they are stale (issue #9 item 5): the pure health and backoff logic of the reflectors, with time
// passed in (a fake clock in ms), and the API server probe's classification of answers.
import { CacheHealth } from '../../../webhook/cluster/cache-health';
import { RetryBackoff } from '../../../webhook/cluster/retry-backoff';
import { ApiServerProbe, ApiServerState } from '../../../webhook/cluster/apiserver-probe';
import { createLogger } from '../../../webhook/log/logger';

const LIMIT = 10_000;

describe('CacheHealth', () => {
  it('is unsynced until the first LIST, then synced while the watch is open and the API server answers', () => {
    const h = new CacheHealth(LIMIT);
    expect(h.state(0)).toBe('unsynced');
    expect(h.stalenessMs(0)).toBe(0);
    h.listed(1000);
    h.watchOpened(1010);
    expect(h.healthy()).toBe(true);
    expect(h.state(500_000)).toBe('synced');
    expect(h.stalenessMs(500_000)).toBe(0);
  });

  it('a watch that is down counts from the moment it closed and turns stale past the limit', () => {
    const h = new CacheHealth(LIMIT);
    h.listed(0);
    h.watchOpened(0);
    h.watchClosed(20_000);
    expect(h.stalenessMs(25_000)).toBe(5000);
    expect(h.state(30_000)).toBe('synced'); // exactly the limit: not yet
    expect(h.state(30_001)).toBe('stale');
    h.listed(40_000); // relisted: current again, the watch about to open
    expect(h.state(40_000)).toBe('synced');
    h.watchOpened(40_100);
    expect(h.stalenessMs(60_000)).toBe(0);
  });

  it('an open but silent watch (API server frozen) is stale counted from the last proof of life', () => {
    const h = new CacheHealth(LIMIT);
    h.listed(0);
    h.watchOpened(0);
    h.apiAnswered(5000); // last probe answer
    h.apiSilent(); // the next probe got no answer
    expect(h.healthy()).toBe(false);
    expect(h.stalenessMs(9000)).toBe(4000);
    expect(h.state(15_001)).toBe('stale');
    // the API server answers again: the watch (still open) is evidence again
    h.apiAnswered(40_000);
    expect(h.state(40_000)).toBe('synced');
    expect(h.stalenessMs(40_000)).toBe(0);
  });

  it('events arriving while the probe is silent keep the staleness small (the watch delivers)', () => {
    const h = new CacheHealth(LIMIT);
    h.listed(0);
    h.watchOpened(0);
    h.apiSilent();
    h.watchEvent(12_000);
    expect(h.stalenessMs(14_000)).toBe(2000);
    expect(h.state(14_000)).toBe('synced');
  });

  it('a watch that closes while the API server was already silent keeps the older proof', () => {
    const h = new CacheHealth(LIMIT);
    h.listed(0);
    h.watchOpened(0);
    h.apiAnswered(1000);
    h.apiSilent();
    h.watchClosed(8000); // not healthy at that moment: no new proof
    expect(h.stalenessMs(12_000)).toBe(11_000);
    expect(h.state(12_000)).toBe('stale');
  });

  it('events on a closed watch prove nothing', () => {
    const h = new CacheHealth(LIMIT);
    h.listed(0);
    h.watchEvent(50_000);
    expect(h.stalenessMs(50_000)).toBe(50_000);
  });
});

describe('RetryBackoff', () => {
  it('grows from the base to the cap while the API server is silent', () => {
    const b = new RetryBackoff(500, 4000);
    expect([1, 2, 3, 4, 5, 6].map(() => b.failed('silent'))).toEqual([500, 1000, 2000, 4000, 4000, 4000]);
  });

  it('starts over as soon as the API server answers anything, and says a pending retry should run now', () => {
    const b = new RetryBackoff(500, 4000);
    for (let i = 0; i < 6; i++) b.failed('silent');
    expect(b.answered()).toBe(true);
    expect(b.answered()).toBe(false); // once per outage
    expect(b.failed('answered')).toBe(500); // e.g. 503 while the API server starts
  });

  it('an error status after silence starts over too (the API server answered)', () => {
    const b = new RetryBackoff(500, 4000);
    for (let i = 0; i < 6; i++) b.failed('silent');
    expect(b.failed('answered')).toBe(500);
  });

  it('a server that keeps answering errors still sees the delay grow (not hammered)', () => {
    const b = new RetryBackoff(500, 4000);
    expect([1, 2, 3, 4].map(() => b.failed('answered'))).toEqual([500, 1000, 2000, 4000]);
    expect(b.answered()).toBe(false); // answering all along: nothing to wake
  });

  it('a success resets', () => {
    const b = new RetryBackoff(500, 4000);
    b.failed('silent');
    b.failed('silent');
    b.succeeded();
    expect(b.failed('silent')).toBe(500);
    expect(b.answered()).toBe(true);
  });
});

describe('ApiServerProbe', () => {
  const run = async (outcome: () => Promise<number>): Promise<ApiServerState> => {
    const seen: ApiServerState[] = [];
    const probe = new ApiServerProbe({ status: outcome }, (s) => seen.push(s), createLogger('silent'), {
      intervalMs: 60_000,
    });
    probe.start();
    for (let i = 0; i < 20 && seen.length === 0; i++) await Promise.resolve();
    probe.stop();
    return seen[0];
  };

  it('200 from /readyz is ready, any other status is answering, no answer is silent', async () => {
    expect(await run(async () => 200)).toBe('ready');
    expect(await run(async () => 500)).toBe('answering');
    expect(await run(async () => 403)).toBe('answering');
    expect(await run(async () => Promise.reject(new Error('ECONNREFUSED')))).toBe('silent');
  });
});
