// A cache keyed by long strings (whole allocatedIPs values, up to megabytes), in insertion order.
//
// Why not a plain Map<string, V>: V8 hashes a string of more than 16,383 characters by its length alone, so every
// key of the same length lands in one bucket, and every lookup or insertion compares the string with each of them,
// character by character up to the first difference. Writes to one pool often have equal lengths (a release of any
// record of the same shape, a podUid rewrite) and differ only around the changed entry, often mid-string: each
// operation then compared megabytes. Here long keys are bucketed by their length and a hash of characters sampled
// along the whole string (values that differ at a sample go to different buckets), insertion compares nothing, and
// a lookup stays exact: a candidate is confirmed with ===.

/**
 * Keys up to this length are their own bucket. V8 hashes strings of up to 16,383 characters in full; up to 64 Ki
 * characters a comparison with a same-length key costs a few microseconds, less than reading samples would.
 */
const DIRECT_KEY_CHARS = 65_536;
/**
 * Characters sampled from a longer key, evenly spread: about 4,096, but at least one in 64 (an entry of allocatedIPs
 * is about 90 characters, so two values that differ by an entry somewhere are told apart by the samples). Reading a
 * 1.7 MB value's samples costs tens of microseconds; comparing it with a same-length value costs up to a millisecond.
 */
const SAMPLES = 4096;
const MAX_STRIDE = 64;

/** The bucket a key lives in: the key itself when short enough, else its length and a hash of sampled characters. */
export function bucketOf(key: string): string {
  if (key.length <= DIRECT_KEY_CHARS) return key;
  const stride = Math.min(MAX_STRIDE, Math.max(1, Math.floor(key.length / SAMPLES)));
  let h = 0x811c9dc5; // FNV-1a
  for (let i = 0; i < key.length; i += stride) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  // the last characters too: an edit near the end of a short stride is otherwise missed by the last sample
  for (let i = Math.max(0, key.length - 64); i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  return `${key.length}:${(h >>> 0).toString(36)}`;
}

interface Entry<V> {
  key: string;
  value: V;
  bucket: string;
}

export class LongStringMap<V> {
  private readonly buckets = new Map<string, Entry<V>[]>();
  /** entries in insertion order (entry objects hash by identity, cheaply) */
  private readonly order = new Set<Entry<V>>();

  get size(): number {
    return this.order.size;
  }

  private find(key: string, bucket: string): Entry<V> | undefined {
    return this.buckets.get(bucket)?.find((e) => e.key === key);
  }

  /**
   * The value of an entry whose key equals `key`, or undefined; `refresh` moves it last. `bucket`: bucketOf(key) when
   * the caller has it already (computing it reads the samples of a long key).
   */
  get(key: string, bucket = bucketOf(key), refresh = false): V | undefined {
    const hit = this.find(key, bucket);
    if (hit && refresh) {
      this.order.delete(hit);
      this.order.add(hit);
    }
    return hit?.value;
  }

  /** Adds an entry without looking for an equal key (no string comparison): an equal key may then be held twice. */
  add(key: string, value: V, bucket = bucketOf(key)): void {
    const entry = { key, value, bucket };
    const list = this.buckets.get(bucket);
    if (list) list.push(entry);
    else this.buckets.set(bucket, [entry]);
    this.order.add(entry);
  }

  /** Removes and returns the oldest entry (first added, or refreshed longest ago). */
  removeOldest(): { key: string; value: V } | undefined {
    const entry: Entry<V> | undefined = this.order.values().next().value;
    if (!entry) return undefined;
    this.order.delete(entry);
    const list = this.buckets.get(entry.bucket);
    if (list === undefined || list.length === 1) this.buckets.delete(entry.bucket);
    else list.splice(list.indexOf(entry), 1);
    return entry;
  }
}
