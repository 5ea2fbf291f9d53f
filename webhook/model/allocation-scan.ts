// Fast path for status.allocatedIPs. Spiderpool writes it with Go's json.Marshal of a map: keys sorted, no
// whitespace, values {"pod":..,"podUid":..}. An UPDATE changes a few entries of a string that can hold tens of
// thousands, so instead of JSON-parsing and validating old and new on every request we
//   1. scan a string once in that strict form (entry offsets, keys, validity) and cache the scan;
//   2. diff old → new by their common prefix and suffix and scan only the changed middle of the new string.
// Only the entries a write adds or changes are judged (an entry left as it is never is, even when malformed), so the
// diff also says which malformed entries the write touched.
// Anything not in the strict form (whitespace, escapes, unsorted or duplicate keys, other fields) returns
// undefined, and the caller falls back to the general JSON parser (allocations.ts), which decides the same thing.
import { AllocationDiff, PoolAddressing, keyProblem, recordProblem } from './allocations';
import { Cidr, isCanonicalIPv4, parseCidr } from '../../lib/ip';
import { MalformedEntry, PoolRecord } from './types';
import { LongStringMap, bucketOf } from './long-string-map';

export interface AllocationScan {
  raw: string;
  /** the addressing the entries were judged against ("family|subnet") */
  scope: string;
  keys: string[];
  // No arrays of pods and uids: each is read from `raw` when asked for (scanPod, scanUid). Kept, their slices and
  // array slots cost about 80 bytes per record at 100,000 records, for values read only by a diff's changed middle
  // and by the records a reconcile pass walks.
  /** offset of each entry's opening quote */
  starts: number[];
  /** offset just past each entry's closing brace */
  ends: number[];
  malformed: MalformedEntry[];
  /**
   * Built by a diff from an earlier scan (diffScans): it holds that scan's key strings for the entries the write left
   * alone, so strings a cache shared with that scan's keys stay shared (ScanRecords.shareKeys need not run again).
   */
  derived: boolean;
  /** bucketOf(raw), once computed (the caches' key: computing it reads samples of the whole string) */
  bucket?: string;
}

export interface ScanDiff extends AllocationDiff {
  /** malformed entries of the new string that the write adds or changes (untouched ones are not judged) */
  malformed: MalformedEntry[];
  newScan: AllocationScan;
  /** where the new string differs from the old: [changedFrom, changedTo) of the new string (empty when equal) */
  changedFrom: number;
  changedTo: number;
}

// Strings without escapes and without raw control characters (which JSON.parse, and Go, reject).
// eslint-disable-next-line no-control-regex -- excluding control characters is the point
const ENTRY = /"([^"\\\u0000-\u001f]*)":\{"pod":"([^"\\\u0000-\u001f]*)","podUid":"([^"\\\u0000-\u001f]*)"\}/y;

/**
 * Validity of a key for a subnet, remembered: pools are re-judged on every write, their keys rarely change. A
 * canonical IPv4 key (nearly all of them) is judged without the table, as fast as looked up: remembering every key
 * cost about 40 bytes per record at 100,000 records.
 */
const keyVerdicts = new Map<string, Map<string, string | null>>();
const KEY_VERDICT_LIMIT = 500_000;
let keyVerdictCount = 0;

function scopeOf(addressing: PoolAddressing): string {
  return `${addressing.family ?? ''}|${addressing.subnet}`;
}

function cachedKeyProblem(key: string, addressing: PoolAddressing, cidr: Cidr | undefined): string | undefined {
  if (isCanonicalIPv4(key)) return keyProblem(key, cidr, addressing.family);
  const scope = scopeOf(addressing);
  let verdicts = keyVerdicts.get(scope);
  if (!verdicts) keyVerdicts.set(scope, (verdicts = new Map()));
  const hit = verdicts.get(key);
  if (hit !== undefined) return hit ?? undefined;
  const problem = keyProblem(key, cidr, addressing.family);
  if (keyVerdictCount >= KEY_VERDICT_LIMIT) {
    keyVerdicts.clear();
    keyVerdictCount = 0;
    keyVerdicts.set(scope, (verdicts = new Map()));
  }
  verdicts.set(key, problem ?? null);
  keyVerdictCount++;
  return problem;
}

interface Entries {
  keys: string[];
  pods: string[];
  uids: string[];
  starts: number[];
  ends: number[];
}

/** Scans entries of the strict form from `from` to exactly `to` in raw, separated by ','. */
function scanEntries(raw: string, from: number, to: number): Entries | undefined {
  const out: Entries = { keys: [], pods: [], uids: [], starts: [], ends: [] };
  let pos = from;
  while (pos < to) {
    if (out.keys.length > 0) {
      if (raw.charCodeAt(pos) !== 44 /* , */) return undefined;
      pos++;
    }
    ENTRY.lastIndex = pos;
    const m = ENTRY.exec(raw);
    if (!m || ENTRY.lastIndex > to) return undefined;
    out.keys.push(m[1]);
    out.pods.push(m[2]);
    out.uids.push(m[3]);
    out.starts.push(pos);
    out.ends.push(ENTRY.lastIndex);
    pos = ENTRY.lastIndex;
  }
  if (pos !== to) return undefined;
  for (let i = 1; i < out.keys.length; i++) if (!(out.keys[i - 1] < out.keys[i])) return undefined; // sorted, no duplicates
  return out;
}

/** The pod ("namespace/name") of entry i: it follows `"KEY":{"pod":"` (the strict form; values hold no quote). */
export function scanPod(scan: AllocationScan, i: number): string {
  const from = scan.starts[i] + scan.keys[i].length + 11;
  return scan.raw.slice(from, scan.raw.indexOf('"', from));
}

/** The podUid of entry i: the last value of the entry, closed by `"}`. */
export function scanUid(scan: AllocationScan, i: number): string {
  const end = scan.ends[i] - 2;
  return scan.raw.slice(scan.raw.lastIndexOf('"', end - 1) + 1, end);
}

function judge(e: Entries, addressing: PoolAddressing): MalformedEntry[] {
  const cidr = parseCidr(addressing.subnet);
  const malformed: MalformedEntry[] = [];
  for (let i = 0; i < e.keys.length; i++) {
    const problem =
      cachedKeyProblem(e.keys[i], addressing, cidr) ?? recordProblem({ pod: e.pods[i], podUid: e.uids[i] });
    if (problem) malformed.push({ key: e.keys[i], reason: problem });
  }
  return malformed;
}

/** A whole string in the strict form, or undefined. */
export function scanAllocations(raw: string, addressing: PoolAddressing): AllocationScan | undefined {
  if (raw.length < 2 || raw.charCodeAt(0) !== 123 /* { */ || raw.charCodeAt(raw.length - 1) !== 125 /* } */)
    return undefined;
  const e = scanEntries(raw, 1, raw.length - 1);
  if (!e) return undefined;
  return {
    raw,
    scope: scopeOf(addressing),
    keys: e.keys,
    starts: e.starts,
    ends: e.ends,
    malformed: judge(e, addressing),
    derived: false,
  };
}

const CHUNKS = [4096, 512, 64, 8, 1];

/** Length of the common prefix, compared in shrinking chunks (native string equality), then per character. */
function commonPrefix(a: string, b: string): number {
  const max = Math.min(a.length, b.length);
  let i = 0;
  for (const chunk of CHUNKS) while (i + chunk <= max && a.slice(i, i + chunk) === b.slice(i, i + chunk)) i += chunk;
  return i;
}

/** Length of the common suffix, at most `max`. */
function commonSuffix(a: string, b: string, max: number): number {
  let i = 0;
  for (const chunk of CHUNKS) {
    while (
      i + chunk <= max &&
      a.slice(a.length - i - chunk, a.length - i) === b.slice(b.length - i - chunk, b.length - i)
    )
      i += chunk;
  }
  return i;
}

function lastIndexBelow(sorted: number[], limit: number): number {
  // index of the last element < limit, or -1
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid] < limit) lo = mid + 1;
    else hi = mid;
  }
  return lo - 1;
}

/**
 * old → new, scanning only what changed; returns undefined when the new string is not old-with-a-strict-middle.
 * Entries outside the middle are the old ones, unchanged: they keep the old verdicts, malformed or not. A malformed
 * old entry is no record (as in the general parser), so a well-formed entry replacing it is an addition.
 */
export function diffScans(old: AllocationScan, newRaw: string, addressing: PoolAddressing): ScanDiff | undefined {
  if (old.scope !== scopeOf(addressing)) return undefined;
  const oldRaw = old.raw;
  if (newRaw === oldRaw)
    return { removed: [], added: [], rewritten: [], malformed: [], newScan: old, changedFrom: 0, changedTo: 0 };
  if (newRaw.length < 2 || newRaw.charCodeAt(0) !== 123 || newRaw.charCodeAt(newRaw.length - 1) !== 125)
    return undefined;
  const n = old.keys.length;
  const p = commonPrefix(oldRaw, newRaw);
  const s = commonSuffix(oldRaw, newRaw, Math.min(oldRaw.length, newRaw.length) - p);
  // L leading entries (each with its following comma) lie in the common prefix; R trailing ones (each with its
  // preceding comma) in the common suffix. Everything between is re-scanned in the new string.
  let L = lastIndexBelow(old.ends, p) + 1; // entries whose end < p: their following separator is within the prefix
  while (L > 0 && oldRaw.charCodeAt(old.ends[L - 1]) !== 44) L--;
  const suffixStart = oldRaw.length - s;
  let firstTrailing = lastIndexBelow(old.starts, suffixStart + 1) + 1; // first entry with start - 1 >= suffixStart
  while (firstTrailing < n && old.starts[firstTrailing] - 1 < suffixStart) firstTrailing++;
  if (firstTrailing < L) firstTrailing = L;
  const R = n - firstTrailing;
  const delta = newRaw.length - oldRaw.length;
  const newStart = L === 0 ? 1 : old.ends[L - 1] + 1;
  const oldTail = R === 0 ? oldRaw.length - 1 : old.starts[firstTrailing] - 1;
  const newTail = oldTail + delta;
  let middle: Entries;
  if (newTail >= newStart) {
    if (newTail === newStart && (L > 0 || R > 0)) return undefined; // ",," or "{," or ",}"
    const scanned = scanEntries(newRaw, newStart, newTail);
    if (!scanned) return undefined;
    middle = scanned;
  } else if (newTail === newStart - 1 && L > 0 && R > 0) {
    middle = { keys: [], pods: [], uids: [], starts: [], ends: [] }; // entries removed; one comma now joins both sides
  } else return undefined;
  const mk = middle.keys;
  if (mk.length && ((L > 0 && !(old.keys[L - 1] < mk[0])) || (R > 0 && !(mk[mk.length - 1] < old.keys[firstTrailing]))))
    return undefined;
  if (!mk.length && L > 0 && R > 0 && !(old.keys[L - 1] < old.keys[firstTrailing])) return undefined;

  const diff: ScanDiff = {
    removed: [],
    added: [],
    rewritten: [],
    malformed: [],
    newScan: undefined as unknown as AllocationScan,
    changedFrom: p,
    changedTo: newRaw.length - s,
  };
  const oldMiddle = new Map<string, number>();
  for (let i = L; i < firstTrailing; i++) oldMiddle.set(old.keys[i], i);
  const oldBad = old.malformed.length > 0 ? new Set(old.malformed.map((m) => m.key)) : undefined;
  // Like the general parser, a malformed new entry is no record: the old one counts as removed.
  const middleMalformed = judge(middle, addressing);
  const bad = new Map(middleMalformed.map((m) => [m.key, m]));
  const newMiddle = new Set(mk.filter((k) => !bad.has(k)));
  const sameAsOld = (j: number, i: number | undefined) =>
    i !== undefined && scanPod(old, i) === middle.pods[j] && scanUid(old, i) === middle.uids[j];
  for (let j = 0; j < mk.length; j++) {
    const i = oldMiddle.get(mk[j]);
    const malformedHere = bad.get(mk[j]);
    if (malformedHere) {
      // The middle can hold entries the write left as they were (between two edits): those are not judged.
      if (!sameAsOld(j, i)) diff.malformed.push(malformedHere);
      continue;
    }
    const next = { pod: middle.pods[j], podUid: middle.uids[j] };
    if (i === undefined || oldBad?.has(mk[j])) diff.added.push({ ip: mk[j], next });
    else {
      const prev = { pod: scanPod(old, i), podUid: scanUid(old, i) };
      if (prev.pod !== next.pod) {
        diff.removed.push({ ip: mk[j], old: prev, next });
        diff.added.push({ ip: mk[j], old: prev, next });
      } else if (prev.podUid !== next.podUid) diff.rewritten.push({ ip: mk[j], old: prev, next });
    }
  }
  for (let i = L; i < firstTrailing; i++) {
    if (oldBad?.has(old.keys[i])) continue;
    if (!newMiddle.has(old.keys[i]))
      diff.removed.push({ ip: old.keys[i], old: { pod: scanPod(old, i), podUid: scanUid(old, i) } });
  }
  // The new string's scan: unchanged entries keep their values (trailing offsets move by delta). Built with slice
  // and concat (copies of whole runs) rather than element by element into preallocated arrays: at 16,384 entries
  // the element-wise copy of the (then five) arrays was most of a write’s cost.
  const spliced = <T>(before: T[], mid: T[]) => before.slice(0, L).concat(mid, before.slice(firstTrailing));
  const shifted = (offsets: number[], mid: number[]) => {
    const out = offsets.slice(0, L).concat(mid);
    for (let i = firstTrailing; i < n; i++) out.push(offsets[i] + delta);
    return out;
  };
  const keys = spliced(old.keys, mk);
  const starts = shifted(old.starts, middle.starts);
  const ends = shifted(old.ends, middle.ends);
  // The new string's malformed entries: the old ones outside the middle (unchanged) and the middle's, in key order.
  const malformed = oldBad
    ? [...old.malformed.filter((m) => m.key === undefined || !oldMiddle.has(m.key)), ...middleMalformed].sort((a, b) =>
        compareKeys(a.key, b.key),
      )
    : middleMalformed;
  diff.newScan = { raw: newRaw, scope: old.scope, keys, starts, ends, malformed, derived: true };
  return diff;
}

/** Key order of malformed entries; an entry without a key (none has one missing today) keeps its place. */
function compareKeys(a: string | undefined, b: string | undefined): number {
  if (a === undefined || b === undefined) return 0;
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * The well-formed records of a scan, IP → record (PoolFacts.records), read from the scan's own arrays: its keys are
 * sorted (the strict form demands it), so a lookup is a binary search, and a record object is made when asked for.
 * A Map with a record object per IP cost about 85 bytes per record at 100,000 records, on top of the scan that the
 * shared scan cache and the records' strings keep anyway. A Map (for `instanceof`, and for tests comparing records
 * with a Map) whose own table stays empty: every read is answered from the scan. Read-only (ReadonlyMap).
 */
export class ScanRecords extends Map<string, PoolRecord> {
  /** entry indexes of the scan's malformed keys (not records), when it has any */
  private readonly bad: ReadonlySet<number> | undefined;
  private readonly count: number;

  constructor(private readonly scan: AllocationScan) {
    super();
    const bad = new Set<number>();
    for (const m of scan.malformed) {
      const i = m.key === undefined ? -1 : indexOfKey(scan.keys, m.key);
      if (i >= 0) bad.add(i);
    }
    this.bad = bad.size > 0 ? bad : undefined;
    this.count = scan.keys.length - bad.size;
  }

  /** index of a well-formed entry of this key, or -1 */
  private indexOf(ip: string): number {
    const i = indexOfKey(this.scan.keys, ip);
    return i >= 0 && this.bad?.has(i) ? -1 : i;
  }

  private record(i: number): PoolRecord {
    const { raw, starts, keys, ends } = this.scan;
    const from = starts[i] + keys[i].length + 11;
    const podEnd = raw.indexOf('"', from);
    // `","podUid":"` (12 characters) follows the pod
    return { pod: raw.slice(from, podEnd), podUid: raw.slice(podEnd + 12, ends[i] - 2) };
  }

  override get size(): number {
    return this.count;
  }

  /**
   * The scan's key equal to `ip` takes this instance of it: a cached pod holds its IP string once more (parsed from
   * its own object), and at 100,000 records the scan's copies cost about 32 bytes each. Equal strings are exchanged,
   * so every comparison, lookup and diff of the scan reads as before (a diff's new scan takes its unchanged keys from
   * the old one, so the shared instance carries over to the pool's next scan).
   */
  shareKey(ip: string): void {
    const keys = this.scan.keys;
    const i = indexOfKey(keys, ip);
    if (i >= 0) keys[i] = ip;
  }

  /** Whether the scan was built by a diff from an earlier one, whose key strings it holds (AllocationScan.derived). */
  get derived(): boolean {
    return this.scan.derived;
  }

  /** Every key takes the instance `instanceOf` gives for it (an equal string), if any (see shareKey). */
  shareKeys(instanceOf: (ip: string) => string | undefined): void {
    const keys = this.scan.keys;
    for (let i = 0; i < keys.length; i++) {
      const same = instanceOf(keys[i]);
      if (same === keys[i]) keys[i] = same;
    }
  }

  override get(ip: string): PoolRecord | undefined {
    const i = this.indexOf(ip);
    return i < 0 ? undefined : this.record(i);
  }
  override has(ip: string): boolean {
    return this.indexOf(ip) >= 0;
  }
  override *entries(): MapIterator<[string, PoolRecord]> {
    const keys = this.scan.keys;
    for (let i = 0; i < keys.length; i++) if (!this.bad?.has(i)) yield [keys[i], this.record(i)];
  }
  override *keys(): MapIterator<string> {
    const keys = this.scan.keys;
    for (let i = 0; i < keys.length; i++) if (!this.bad?.has(i)) yield keys[i];
  }
  override *values(): MapIterator<PoolRecord> {
    const keys = this.scan.keys;
    for (let i = 0; i < keys.length; i++) if (!this.bad?.has(i)) yield this.record(i);
  }
  override [Symbol.iterator](): MapIterator<[string, PoolRecord]> {
    return this.entries();
  }
  override forEach(fn: (value: PoolRecord, key: string, map: Map<string, PoolRecord>) => void, self?: unknown): void {
    for (const [k, v] of this.entries()) fn.call(self, v, k, this);
  }
  override set(): this {
    throw new TypeError('ScanRecords are read-only');
  }
  override delete(): boolean {
    throw new TypeError('ScanRecords are read-only');
  }
  override clear(): void {
    throw new TypeError('ScanRecords are read-only');
  }
}

/** Index of `key` in strictly sorted keys, or -1. */
function indexOfKey(keys: readonly string[], key: string): number {
  let lo = 0;
  let hi = keys.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const k = keys[mid];
    if (k === key) return mid;
    if (k < key) lo = mid + 1;
    else hi = mid - 1;
  }
  return -1;
}

/** The well-formed records of a scan, IP → record (PoolFacts.records). */
export function scanRecords(scan: AllocationScan): ScanRecords {
  return new ScanRecords(scan);
}

/**
 * Whether these records (PoolFacts.records) are read from a scan: their pods and uids are slices of the scanned
 * allocatedIPs, which the shared scan cache holds anyway, so giving them another instance would free nothing; their
 * keys are strings of their own, which take the cached pods' IP strings instead (ScanRecords.shareKey).
 */
export function recordsFromScan(records: ReadonlyMap<string, PoolRecord>): records is ScanRecords {
  return records instanceof ScanRecords;
}

/** Recent scans, by their string: the old object of a write is usually the new object of the previous one. */
export class ScanCache {
  private readonly entries = new LongStringMap<AllocationScan>();
  /** the scans held, by identity: putting one that is already here (a diff both webhooks share) compares no string */
  private readonly held = new Set<AllocationScan>();
  private chars = 0;
  constructor(private readonly charBudget = 16 * 1024 * 1024) {}

  get(raw: string, bucket = bucketOf(raw)): AllocationScan | undefined {
    return this.entries.get(raw, bucket, true); // most recently used last
  }

  /**
   * Adds a scan without looking for an equal string first: that look compared the new string with every held one
   * of its length, up to their first difference (often mid-string). An equal string held twice only costs budget.
   */
  put(scan: AllocationScan): void {
    if (this.held.has(scan) || scan.raw.length > this.charBudget) return;
    this.entries.add(scan.raw, scan, (scan.bucket ??= bucketOf(scan.raw)));
    this.held.add(scan);
    this.chars += scan.raw.length;
    while (this.chars > this.charBudget) {
      const oldest = this.entries.removeOldest();
      if (!oldest) break; // over budget with nothing held cannot happen: chars counts what is held
      this.held.delete(oldest.value);
      this.chars -= oldest.key.length;
    }
  }
}

export const sharedScanCache = new ScanCache();

/** The scan of "no records" (an absent field), from which any strict string diffs as all-added. */
export function emptyScan(addressing: PoolAddressing): AllocationScan {
  return { raw: '{}', scope: scopeOf(addressing), keys: [], starts: [], ends: [], malformed: [], derived: false };
}

/**
 * The validating and the mutating webhook see the same old → new pair: remember the last few diffs by their new
 * string (and the identity of the old scan they started from).
 */
const recentDiffs: { old: AllocationScan; newRaw: string; diff: ScanDiff }[] = [];
const RECENT_DIFFS = 8;

/** Whether newRaw is the string `d` was diffed to, from the same old scan: the changed part first (short), then all. */
function sameWrite(
  d: { old: AllocationScan; newRaw: string; diff: ScanDiff },
  old: AllocationScan,
  newRaw: string,
): boolean {
  if (d.old !== old || d.newRaw.length !== newRaw.length) return false;
  // Writes to one pool often have equal lengths and differ only around their change, deep inside megabytes that a
  // plain comparison would walk through first.
  for (let i = d.diff.changedFrom; i < d.diff.changedTo; i++)
    if (d.newRaw.charCodeAt(i) !== newRaw.charCodeAt(i)) return false;
  return d.newRaw === newRaw;
}

export function cachedDiff(old: AllocationScan, newRaw: string, addressing: PoolAddressing): ScanDiff | undefined {
  const hit = recentDiffs.find((d) => sameWrite(d, old, newRaw));
  if (hit) return hit.diff;
  const diff = diffScans(old, newRaw, addressing);
  if (diff) {
    if (recentDiffs.length >= RECENT_DIFFS) recentDiffs.shift();
    recentDiffs.push({ old, newRaw, diff });
  }
  return diff;
}

/** A scan of raw from the cache, or a fresh full scan (cached), or undefined when not in the strict form. */
export function cachedScan(
  raw: string,
  addressing: PoolAddressing,
  cache = sharedScanCache,
): AllocationScan | undefined {
  const bucket = bucketOf(raw);
  const hit = cache.get(raw, bucket);
  if (hit && hit.scope === scopeOf(addressing)) return hit;
  const scan = scanAllocations(raw, addressing);
  if (scan) {
    scan.bucket = bucket;
    cache.put(scan);
  }
  return scan;
}
