// Rule names are a public API (docs/rules.md, Rules): they appear in responses, audit lines, metrics and CLI output.
import { PoolRecord, ObjectRef } from '../model';
import { MAX_DETAIL_CHARS, cut } from '../../lib/bounds';

export const POOL_RULES = [
  'MALFORMED_ALLOCATIONS',
  'LIVE_IP_RELEASE',
  'STATIC_IP_RELEASE',
  'UNCONFIRMED_TERMINATION_RELEASE',
  'STALE_UID_REWRITE',
  'DOUBLE_ALLOCATION',
  'STALE_ALLOCATION',
] as const;
export const ENDPOINT_RULES = ['LIVE_ENDPOINT_DELETE', 'ENDPOINT_UID_REWRITE', 'ENDPOINT_IP_CONFLICT'] as const;
export const RULES = [...POOL_RULES, ...ENDPOINT_RULES] as const;
export type RuleName = (typeof RULES)[number];

/** Release-side rules: they judge only guarded writers (the GC's identity by default). */
export const GUARDED_RULES: ReadonlySet<RuleName> = new Set<RuleName>([
  'LIVE_IP_RELEASE',
  'STATIC_IP_RELEASE',
  'UNCONFIRMED_TERMINATION_RELEASE',
  'LIVE_ENDPOINT_DELETE',
]);

/** Rules the mutating webhook can repair instead of denying. */
export const REPAIRABLE_RULES: ReadonlySet<RuleName> = new Set<RuleName>([
  'LIVE_IP_RELEASE',
  'STATIC_IP_RELEASE',
  'UNCONFIRMED_TERMINATION_RELEASE',
  'STALE_UID_REWRITE',
]);

/** Name used in audit lines and metrics for allocatedIPCount fixes (also a `check` finding). */
export const COUNT_MISMATCH = 'COUNT_MISMATCH';

export function isRuleName(s: string): s is RuleName {
  return (RULES as readonly string[]).includes(s);
}

/** The pod a decision looked at, as shown in messages and audit lines. */
export interface LivePodSummary {
  name: string;
  uid: string;
  phase: string;
  observedIPs: string[];
  deleting: boolean;
}

export interface Violation {
  rule: RuleName;
  ip?: string;
  pool?: string;
  record?: PoolRecord;
  livePod?: LivePodSummary;
  /** SpiderEndpoint involved (namespace/name) */
  endpoint?: string;
  /** why, in words, after the facts */
  detail: string;
  /** objects whose state causes the violation: re-read before denying */
  evidence: ObjectRef[];
}

/**
 * One line: rule name first, then IP, pool, recorded pod/uid, live pod/uid/IPs, then why. Writer-chosen strings are
 * cut (names and uids to 256 characters, the reason to 1 KiB), so one line stays small whatever the request.
 */
export function violationMessage(v: Violation): string {
  const parts: string[] = [];
  if (v.ip) parts.push(`IP ${cut(v.ip)}`);
  if (v.pool) parts.push(`pool ${cut(v.pool)}`);
  if (v.endpoint) parts.push(`endpoint ${cut(v.endpoint)}`);
  if (v.record) parts.push(`recorded for ${cut(v.record.pod)} uid ${cut(v.record.podUid)}`);
  if (v.livePod) {
    const p = v.livePod;
    parts.push(
      `live pod ${cut(p.name)} uid ${cut(p.uid)} phase ${cut(p.phase || 'Unknown')}${p.deleting ? ' (deleting)' : ''} IPs [${cut(p.observedIPs.join(','), MAX_DETAIL_CHARS)}]`,
    );
  }
  return oneLine(`${v.rule}: ${parts.join(', ')}${parts.length ? ': ' : ''}${cut(v.detail, MAX_DETAIL_CHARS)}`);
}

/**
 * Messages quote strings the writer chose (allocatedIPs keys, record pod names): escape line breaks and other control
 * characters so a violation stays one line of status.message and cannot forge another rule's line (docs/rules.md, Enforcement modes).
 */
function oneLine(text: string): string {
  const named: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };
  return text.replace(
    // eslint-disable-next-line no-control-regex
    /[\u0000-\u001f\u007f\u2028\u2029]/g,
    (c) => named[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}
