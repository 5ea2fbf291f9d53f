// Shared copies of the strings many cached objects repeat (namespaces, node names, phases, owner references):
// JSON.parse gives every object its own copy, which at 100,000 pods is a large part of what the caches cost.
// Bounded: the table starts over when full, so churn of owner names cannot grow it without limit (later copies are
// then shared again from the new table).
const MAX_ENTRIES = 50_000;
const strings = new Map<string, string>();

export function intern(s: string): string {
  if (s.length === 0) return s;
  const hit = strings.get(s);
  if (hit !== undefined) return hit;
  if (strings.size >= MAX_ENTRIES) strings.clear();
  strings.set(s, s);
  return s;
}

const objects = new Map<string, object>();

/** One shared object per identity key (e.g. an owner reference's uid) while its fields stay the same. */
export function internObject<T extends object>(key: string, value: T, same: (a: T, b: T) => boolean): T {
  const hit = objects.get(key) as T | undefined;
  if (hit !== undefined && same(hit, value)) return hit;
  if (objects.size >= MAX_ENTRIES) objects.clear();
  objects.set(key, value);
  return value;
}
