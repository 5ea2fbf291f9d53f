// Issue #22 item 1 with plain objects: a request whose body does not fit the in-flight budget waits, in order, for a
// bounded time, instead of being refused at once; small reviews pass waiting large ones, never the other way round.
import { HEAVY_BODY_BYTES, InflightBudget } from '../../../webhook/admission/inflight-budget';
import { BudgetQueue, BudgetTicket, MAX_LARGE_IN_FLIGHT, budgetWaitMs } from '../../../webhook/admission/budget-queue';

const MiB = 1024 * 1024;
const LARGE = 3 * MiB; // a 16,384-record pool's review
const SMALL = 40 * 1024; // a 256-record pool's review
const ticket = (name: string, bytes: number, deadlineAt = 1000) => ({ name, bytes, deadlineAt });
const names = (ts: { name: string }[]) => ts.map((t) => t.name);

describe('waiting for the in-flight budget', () => {
  it('admits at once while the bytes fit; past them, queues, and admits in arrival order as bytes come back', () => {
    const q = new BudgetQueue<BudgetTicket & { name: string }>(new InflightBudget(8 * MiB, undefined, MiB));
    expect(q.enter(ticket('a', LARGE))).toBe('admitted');
    expect(q.enter(ticket('b', LARGE))).toBe('admitted'); // 6 of the 7 MiB large bodies may use
    expect(q.enter(ticket('c', LARGE))).toBe('queued');
    expect(q.enter(ticket('d', LARGE))).toBe('queued');
    expect(q.budget.inUse).toBe(2 * LARGE); // a waiting body holds no bytes
    expect(names(q.give(LARGE))).toEqual(['c']);
    expect(names(q.finish(ticket('b', LARGE)))).toEqual(['d']); // a finished large body gives its bytes and its place
    expect(q.length).toBe(0);
    expect(q.budget.inUse).toBe(2 * LARGE);
  });

  it('a new request does not overtake earlier ones of its class, even when its bytes would fit', () => {
    const q = new BudgetQueue<BudgetTicket & { name: string }>(new InflightBudget(8 * MiB, undefined, MiB));
    q.enter(ticket('a', 5 * MiB));
    expect(q.enter(ticket('big', 4 * MiB))).toBe('queued');
    expect(q.enter(ticket('fits', 1.5 * MiB))).toBe('queued'); // 6.5 MiB would fit the 7 MiB, but 'big' came first
    expect(names(q.give(5 * MiB))).toEqual(['big', 'fits']);
  });

  it('small reviews pass waiting large ones (the reserve is theirs); large ones never pass waiting small ones', () => {
    const q = new BudgetQueue<BudgetTicket & { name: string }>(new InflightBudget(8 * MiB, undefined, MiB));
    q.enter(ticket('a', LARGE));
    q.enter(ticket('b', LARGE));
    expect(q.enter(ticket('large', LARGE))).toBe('queued');
    expect(q.enter(ticket('small', SMALL))).toBe('admitted'); // into the reserve, past the waiting large review
    // the whole budget held: small reviews wait too, in their own line
    const full = new BudgetQueue<BudgetTicket & { name: string }>(new InflightBudget(4 * MiB, undefined, MiB));
    full.enter(ticket('x', 4 * MiB));
    expect(full.enter(ticket('large', 2.5 * MiB))).toBe('queued');
    expect(full.enter(ticket('small', HEAVY_BODY_BYTES))).toBe('queued');
    expect(names(full.give(3 * MiB))).toEqual(['small']); // 1 MiB in use: 2.5 MiB more would pass the 3 MiB ceiling
    expect(names(full.give(MiB))).toEqual([]); // the small review's 1 MiB still holds the large one back
    expect(names(full.give(HEAVY_BODY_BYTES))).toEqual(['large']);
  });

  it('a lone body always fits, so a body at the size limit is admitted once the budget is empty', () => {
    const q = new BudgetQueue<BudgetTicket & { name: string }>(new InflightBudget(4 * MiB, undefined, MiB));
    q.enter(ticket('a', SMALL));
    expect(q.enter(ticket('huge', 16 * MiB))).toBe('queued');
    expect(names(q.give(SMALL))).toEqual(['huge']);
  });

  it('expires waits at their deadline (time passed in), and what an expired head held back is admitted', () => {
    const q = new BudgetQueue<BudgetTicket & { name: string }>(new InflightBudget(8 * MiB, undefined, MiB));
    q.enter(ticket('a', 5 * MiB));
    q.enter(ticket('big', 4 * MiB, 100));
    q.enter(ticket('fits', 1.5 * MiB, 300));
    expect(q.nextDeadline()).toBe(100);
    expect(q.expire(99)).toEqual({ expired: [], admitted: [] });
    const { expired, admitted } = q.expire(100);
    expect(names(expired)).toEqual(['big']);
    expect(names(admitted)).toEqual(['fits']);
    expect(q.nextDeadline()).toBeUndefined();
  });

  it('a request whose client left stops waiting; the queue is bounded', () => {
    const q = new BudgetQueue<BudgetTicket & { name: string }>(new InflightBudget(4 * MiB, undefined, MiB), 2);
    q.enter(ticket('a', 3 * MiB));
    const gone = ticket('gone', 2 * MiB);
    q.enter(gone);
    expect(q.enter(ticket('next', MiB / 2))).toBe('admitted'); // small: it passes the waiting large one
    expect(q.length).toBe(1);
    q.enter(ticket('b', 2 * MiB));
    expect(q.enter(ticket('c', 2 * MiB))).toBe('full');
    expect(q.leave(gone)).toEqual([]); // 'b' still does not fit
    expect(q.length).toBe(1);
    expect(names(q.give(3 * MiB))).toEqual(['b']);
  });

  it('at most MAX_LARGE_IN_FLIGHT large bodies are admitted at once, whatever the budget could hold', () => {
    const q = new BudgetQueue<BudgetTicket & { name: string }>(new InflightBudget(64 * MiB), 64, MAX_LARGE_IN_FLIGHT);
    const admitted = ['a', 'b', 'c', 'd'].map((n) => ticket(n, LARGE));
    for (const t of admitted) expect(q.enter(t)).toBe('admitted');
    expect(MAX_LARGE_IN_FLIGHT).toBe(4);
    expect(q.enter(ticket('e', LARGE))).toBe('queued'); // 12 MiB of 56 in use: the count holds it, not the bytes
    expect(q.enter(ticket('small', SMALL))).toBe('admitted');
    expect(q.large).toBe(4);
    expect(names(q.finish(admitted[0]))).toEqual(['e']);
    expect(q.large).toBe(4);
    expect(q.budget.inUse).toBe(4 * LARGE + SMALL);
  });

  it.each([
    [4000, 2000], // timeoutSeconds 5: 2 s of waiting, 2 s left to read and decide
    [9000, 4500],
    [500, 250],
    [-5, 0],
  ])('a decision budget of %d ms allows %d ms of waiting', (budget, wait) => expect(budgetWaitMs(budget)).toBe(wait));
});
