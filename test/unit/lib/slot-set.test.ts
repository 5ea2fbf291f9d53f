// lib/slot-set.ts: the set the webhook listener keeps its calls in flight in (admission/drain.ts).
import { SlotSet } from '../../../lib/slot-set';

describe('SlotSet', () => {
  it('holds what was added until its slot is removed, and iterates what it holds', () => {
    const set = new SlotSet<{ id: number }>();
    const a = { id: 1 };
    const b = { id: 2 };
    const c = { id: 3 };
    const sa = set.add(a);
    const sb = set.add(b);
    set.add(c);
    expect(set.size).toBe(3);
    set.remove(sb);
    expect(set.size).toBe(2);
    expect([...set.values()]).toEqual([a, c]);
    set.remove(sa);
    expect([...set.values()]).toEqual([c]);
  });

  it('a slot removed twice before it is reused, or never used, removes nothing more', () => {
    const set = new SlotSet<object>();
    const kept = {};
    set.add(kept);
    const s = set.add({});
    set.remove(s);
    set.remove(s);
    set.remove(99);
    expect(set.size).toBe(1);
    expect([...set.values()]).toEqual([kept]);
  });

  it('churn reuses cleared slots: capacity is the most held at once, not the number ever added', () => {
    const set = new SlotSet<object>();
    const held: number[] = [];
    for (let i = 0; i < 10_000; i++) {
      held.push(set.add({}));
      if (held.length > 32) set.remove(held.shift() as number);
    }
    expect(set.size).toBe(32);
    expect(set.capacity).toBe(33);
  });
});
