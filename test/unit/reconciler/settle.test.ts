import { DEFAULT_SETTLE_MS, SettleTracker } from '../../../webhook/reconciler/settle';

describe('SettleTracker (injected time)', () => {
  it('settles an identity only after it persisted for the interval', () => {
    const t = new SettleTracker(1000);
    expect([...t.observe(['a'], 0)]).toEqual([]);
    expect([...t.observe(['a'], 999)]).toEqual([]);
    expect([...t.observe(['a'], 1000)]).toEqual(['a']);
    expect([...t.observe(['a'], 5000)]).toEqual(['a']);
  });

  it('restarts the clock when an identity disappears and comes back (a transient state)', () => {
    const t = new SettleTracker(1000);
    t.observe(['a', 'b'], 0);
    t.observe(['b'], 500); // a went away: record + endpoint caught up
    expect([...t.observe(['a', 'b'], 1200)]).toEqual(['b']);
    expect([...t.observe(['a', 'b'], 2199)]).toEqual(['b']);
    expect([...t.observe(['a', 'b'], 2200)].sort()).toEqual(['a', 'b']);
  });

  it('settle() filters items by key; nextSettleAt() tells when to look again', () => {
    const t = new SettleTracker(1000);
    const items = [{ k: 'x' }, { k: 'y' }];
    expect(t.settle(items, (i) => i.k, 0)).toEqual([]);
    expect(t.nextSettleAt(10)).toBe(1000);
    t.settle([{ k: 'y' }, { k: 'z' }], (i) => i.k, 400);
    expect(t.nextSettleAt(400)).toBe(1000);
    expect(t.settle([{ k: 'y' }, { k: 'z' }], (i) => i.k, 1000)).toEqual([{ k: 'y' }]);
    expect(t.nextSettleAt(1000)).toBe(1400);
    t.forget('y');
    expect(t.settle([{ k: 'y' }], (i) => i.k, 1001)).toEqual([]);
    t.clear();
    expect(t.size).toBe(0);
  });

  it('a zero interval settles at once; the default is 60 s', () => {
    expect([...new SettleTracker(0).observe(['a'], 0)]).toEqual(['a']);
    expect(DEFAULT_SETTLE_MS).toBe(60_000);
  });
});
