// Issue #22 item 1 with plain objects: the in-flight byte budget admits by cost (a burst of large bodies leaves a
// reserve that small reviews still get), and the lane of large reviews hands over on a later turn of the event loop
// (a small review queued meanwhile runs between two large ones), first come first served.
import { HEAVY_BODY_BYTES, InflightBudget, smallReserveOf } from '../../../webhook/admission/inflight-budget';
import { HeavyLane } from '../../../webhook/admission/heavy-lane';

const MiB = 1024 * 1024;
const LARGE = 3 * MiB; // a 16,384-record pool's review
const SMALL = 40 * 1024; // a 256-record pool's review

describe('in-flight budget: admission by cost', () => {
  it('a burst of large bodies fills the budget up to the reserve; small reviews are still admitted into it', () => {
    const budget = new InflightBudget(52 * MiB);
    expect(budget.reserveBytes).toBe(6.5 * MiB);
    let large = 0;
    while (budget.tryTake(LARGE)) large++;
    expect(large).toBe(15); // 15 x 3 MiB = 45 MiB <= 52 - 6.5; a 16th would pass the reserve
    expect(budget.inUse).toBe(45 * MiB);
    // 7 MiB are left: all of it for small reviews, none for another large one
    let small = 0;
    while (budget.tryTake(SMALL)) small++;
    expect(small).toBe(Math.floor((7 * MiB) / SMALL));
    expect(budget.tryTake(LARGE)).toBe(false);
    expect(budget.inUse).toBeLessThanOrEqual(budget.limitBytes);
  });

  it('the sum never passes the limit: small reviews are refused once the whole budget is held', () => {
    const budget = new InflightBudget(4 * MiB, undefined, MiB);
    expect(budget.tryTake(3 * MiB)).toBe(true);
    expect(budget.tryTake(SMALL * 20)).toBe(true); // 800 KiB of the reserve
    expect(budget.tryTake(SMALL * 6)).toBe(false); // 240 KiB more would pass 4 MiB
    expect(budget.inUse).toBe(3 * MiB + SMALL * 20);
  });

  it('a body is large by its whole length: the chunks of a growing chunked body are admitted as small until it passes 1 MiB', () => {
    const budget = new InflightBudget(4 * MiB, undefined, MiB);
    expect(budget.tryTake(2.5 * MiB)).toBe(true);
    // a chunked body's chunks, each 256 KiB: small while the body is at most 1 MiB, then held to limit - reserve
    expect(budget.tryTake(256 * 1024, 256 * 1024)).toBe(true);
    expect(budget.tryTake(256 * 1024, 512 * 1024)).toBe(true); // 3 MiB in use
    expect(budget.tryTake(256 * 1024, HEAVY_BODY_BYTES + 256 * 1024)).toBe(false); // large now: 3.25 > 4 - 1
    expect(budget.tryTake(256 * 1024, 768 * 1024)).toBe(true); // a small body's chunk still fits
  });

  it('a lone body always fits, however large; given back, the bytes are free again', () => {
    const budget = new InflightBudget(4 * MiB, undefined, MiB);
    expect(budget.tryTake(16 * MiB)).toBe(true);
    expect(budget.tryTake(SMALL)).toBe(false);
    budget.give(16 * MiB);
    expect(budget.inUse).toBe(0);
    expect(budget.tryTake(SMALL)).toBe(true);
  });

  it.each([
    [4 * MiB, MiB], // at least 1 MiB
    [1 * MiB, 512 * 1024], // at most half
    [52 * MiB, 6.5 * MiB], // an eighth
    [512 * MiB, 8 * MiB], // at most 8 MiB
  ])('the reserve of a %d-byte budget is %d bytes', (limit, reserve) => {
    expect(smallReserveOf(limit)).toBe(reserve);
  });
});

describe('lane of large reviews: one at a time, first come first served, handed over on a later turn', () => {
  /** every promise continuation that can run now has run (the lane under test does not use setImmediate) */
  const settle = () => new Promise((resolve) => setImmediate(resolve));

  /** A hand-run event loop: deferred hand-overs wait here until the test runs the next turn. */
  function manualTurns() {
    const queue: (() => void)[] = [];
    return {
      defer: (fn: () => void) => queue.push(fn),
      runTurn: async () => {
        queue.shift()?.();
        await settle();
      },
      pending: () => queue.length,
    };
  }

  it('three large reviews run in arrival order, never two at once, each after a turn of its own', async () => {
    const turns = manualTurns();
    const lane = new HeavyLane(turns.defer);
    const log: string[] = [];
    const review = async (name: string) => {
      await lane.acquire();
      log.push(`${name} start`);
      await Promise.resolve();
      log.push(`${name} end`);
      lane.release();
    };
    const all = Promise.all([review('a'), review('b'), review('c')]);
    await settle();
    // a ran and released; b is not resumed in the same turn: it waits for the next one
    expect(log).toEqual(['a start', 'a end']);
    expect(lane.queued).toBe(1);
    expect(turns.pending()).toBe(1);
    // a small review's work queued meanwhile (an I/O callback) runs before b in this turn order
    log.push('small');
    await turns.runTurn();
    expect(log).toEqual(['a start', 'a end', 'small', 'b start', 'b end']);
    await turns.runTurn();
    await all;
    expect(log).toEqual(['a start', 'a end', 'small', 'b start', 'b end', 'c start', 'c end']);
    expect(lane.queued).toBe(0);
  });

  it('with the real event loop, a callback queued meanwhile (I/O, a small review) runs between two large reviews', async () => {
    const lane = new HeavyLane();
    const log: string[] = [];
    const review = async (name: string) => {
      await lane.acquire();
      log.push(name);
      if (name === 'a') setImmediate(() => log.push('io'));
      lane.release();
    };
    await Promise.all([review('a'), review('b')]);
    expect(log).toEqual(['a', 'io', 'b']);
  });

  it('a newcomer arriving while the lane is being handed over queues behind the waiter', async () => {
    const turns = manualTurns();
    const lane = new HeavyLane(turns.defer);
    const log: string[] = [];
    await lane.acquire(); // a holds it
    const b = lane.acquire().then(() => log.push('b'));
    lane.release(); // handed to b on the next turn
    const c = lane.acquire().then(() => log.push('c'));
    await settle();
    expect(log).toEqual([]);
    await turns.runTurn();
    expect(log).toEqual(['b']);
    lane.release();
    await turns.runTurn();
    await Promise.all([b, c]);
    expect(log).toEqual(['b', 'c']);
  });
});
