// SpiderIPPool.status.allocatedIPs: a JSON *string* holding a map IP → {pod: "ns/name", podUid}.
// Spiderpool writes it with Go's json.Marshal (keys sorted, no whitespace) and drops the field when the map is empty.
import { isDeepStrictEqual } from 'node:util';
import { Cidr, canonicalIp, cidrContains, ipFamily, parseCidr } from '../../lib/ip';
import { MalformedEntry, PoolRecord, splitNsName } from './types';

export interface PoolAddressing {
  subnet: string;
  family: 4 | 6 | undefined;
}

export interface ParsedAllocations {
  records: Map<string, PoolRecord>;
  malformed: MalformedEntry[];
  unparseable: boolean;
  keyCount: number;
  /** the decoded JSON object (undefined when unparseable), kept so a repair can rewrite it without losing entries */
  raw: Record<string, unknown> | undefined;
}

/** The family a pool serves: spec.ipVersion when set, else the family of spec.subnet. */
export function poolFamily(ipVersion: unknown, subnet: string): 4 | 6 | undefined {
  if (ipVersion === 4 || ipVersion === 6) return ipVersion;
  return parseCidr(subnet)?.family;
}

export function recordProblem(value: unknown): string | undefined {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return 'record is not an object';
  const rec = value as Record<string, unknown>;
  if (typeof rec.pod !== 'string' || !splitNsName(rec.pod)) return 'record has no "pod" of the form namespace/name';
  if (typeof rec.podUid !== 'string' || rec.podUid === '') return 'record has no non-empty "podUid"';
  return undefined;
}

export function keyProblem(key: string, cidr: Cidr | undefined, family: 4 | 6 | undefined): string | undefined {
  const canonical = canonicalIp(key);
  if (canonical === undefined) return 'key is not an IP';
  if (canonical !== key) return `key is not in canonical form (canonical: ${canonical})`;
  if (family !== undefined && ipFamily(canonical) !== family) return `key is not an IPv${family} address`;
  if (cidr && !cidrContains(cidr, canonical)) return 'key lies outside the pool subnet';
  return undefined;
}

const EMPTY: ParsedAllocations = Object.freeze({
  records: new Map<string, PoolRecord>(),
  malformed: [],
  unparseable: false,
  keyCount: 0,
  raw: {},
}) as ParsedAllocations;

/**
 * Parses status.allocatedIPs. Absent and null mean "no records"; anything that is not a JSON object (including "")
 * is unparseable. Well-formed entries are returned even when others are malformed, so the other rules can still
 * judge them.
 */
export function parseAllocatedIPs(value: unknown, addressing: PoolAddressing): ParsedAllocations {
  if (value === undefined || value === null) return { ...EMPTY, records: new Map(), raw: {} };
  if (typeof value !== 'string') {
    return {
      records: new Map(),
      malformed: [{ reason: 'allocatedIPs is not a string' }],
      unparseable: true,
      keyCount: 0,
      raw: undefined,
    };
  }
  let decoded: unknown;
  try {
    decoded = JSON.parse(value);
  } catch (err) {
    const reason = `allocatedIPs is not valid JSON (${(err as Error).message})`;
    return { records: new Map(), malformed: [{ reason }], unparseable: true, keyCount: 0, raw: undefined };
  }
  if (decoded === null || typeof decoded !== 'object' || Array.isArray(decoded)) {
    return {
      records: new Map(),
      malformed: [{ reason: 'allocatedIPs is not a JSON object' }],
      unparseable: true,
      keyCount: 0,
      raw: undefined,
    };
  }
  const raw = decoded as Record<string, unknown>;
  const cidr = parseCidr(addressing.subnet);
  const records = new Map<string, PoolRecord>();
  const malformed: MalformedEntry[] = [];
  let keyCount = 0;
  for (const key of Object.keys(raw)) {
    keyCount++;
    const problem = keyProblem(key, cidr, addressing.family) ?? recordProblem(raw[key]);
    if (problem) {
      malformed.push({ key, reason: problem });
      continue;
    }
    const rec = raw[key] as { pod: string; podUid: string };
    records.set(key, { pod: rec.pod, podUid: rec.podUid });
  }
  return { records, malformed, unparseable: false, keyCount, raw };
}

/**
 * The malformed entries of `next` that an UPDATE from `old` adds or changes. An entry present in the old value under
 * the same key with the same value is left as it is and is not judged: a pool that already holds a malformed entry
 * (written before the guard was installed, or by an exempt user) must not refuse every later write to it. A new value
 * that is not a JSON object at all is always judged.
 */
export function changedMalformed(old: ParsedAllocations, next: ParsedAllocations): MalformedEntry[] {
  const before = old.raw;
  const after = next.raw;
  if (next.unparseable || !before || !after || next.malformed.length === 0) return next.malformed;
  return next.malformed.filter(
    (m) =>
      m.key === undefined ||
      !Object.prototype.hasOwnProperty.call(before, m.key) ||
      !isDeepStrictEqual(before[m.key], after[m.key]),
  );
}

/** Go json.Marshal of a map: keys in byte order, no whitespace. Undefined for an empty map (the field is dropped). */
export function serializeAllocatedIPs(entries: Record<string, unknown>): string | undefined {
  const keys = Object.keys(entries).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  if (keys.length === 0) return undefined;
  return `{${keys.map((k) => `${JSON.stringify(k)}:${JSON.stringify(entries[k])}`).join(',')}}`;
}

export interface AllocationDiff {
  /** keys gone, or whose pod changed (the old record; the new one when the pod changed) */
  removed: { ip: string; old: PoolRecord; next?: PoolRecord }[];
  /** keys new, or whose pod changed (the new record; the old one when the pod changed) */
  added: { ip: string; old?: PoolRecord; next: PoolRecord }[];
  /** same key and pod, another podUid */
  rewritten: { ip: string; old: PoolRecord; next: PoolRecord }[];
}

/** What an UPDATE of allocatedIPs does (removed, added, rewritten keys; docs/rules.md, Terms). */
export function diffRecords(oldRecords: Map<string, PoolRecord>, newRecords: Map<string, PoolRecord>): AllocationDiff {
  const diff: AllocationDiff = { removed: [], added: [], rewritten: [] };
  for (const [ip, old] of oldRecords) {
    const next = newRecords.get(ip);
    if (!next) diff.removed.push({ ip, old });
    else if (next.pod !== old.pod) {
      diff.removed.push({ ip, old, next });
      diff.added.push({ ip, old, next });
    } else if (next.podUid !== old.podUid) diff.rewritten.push({ ip, old, next });
  }
  for (const [ip, next] of newRecords) if (!oldRecords.has(ip)) diff.added.push({ ip, next });
  return diff;
}
