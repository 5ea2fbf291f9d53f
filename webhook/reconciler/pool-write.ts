// The pool status write the executor sends, built from the object as read so that keys it does not touch
// (even ones it cannot judge) are kept byte-for-byte.
import { parseAllocatedIPs, serializeAllocatedIPs, KubeObject, PoolFacts } from '../model';
import { PoolAction } from './actions';

function objectStatus(o: KubeObject): Record<string, unknown> {
  const s = o.status;
  return s && typeof s === 'object' && !Array.isArray(s) ? (s as Record<string, unknown>) : {};
}

/** The status PUT body: the object as read, with released keys removed (uid-conditional), restored keys added, count set. */
export function buildPoolWrite(obj: KubeObject, fresh: PoolFacts, todo: PoolAction[]): KubeObject {
  const status = { ...objectStatus(obj) };
  const parsed = parseAllocatedIPs(status.allocatedIPs, { subnet: fresh.subnet, family: fresh.family });
  const entries: Record<string, unknown> = { ...(parsed.raw ?? {}) };
  let changed = false;
  for (const a of todo) {
    if (a.action === 'RELEASE_IP' && a.ip && fresh.records.get(a.ip)?.podUid === a.record?.podUid) {
      delete entries[a.ip];
      changed = true;
    }
    if (a.action === 'RESTORE_RECORD' && a.ip && a.record && !(a.ip in entries)) {
      entries[a.ip] = { pod: a.record.pod, podUid: a.record.podUid };
      changed = true;
    }
  }
  if (changed) {
    const text = serializeAllocatedIPs(entries);
    if (text === undefined) delete status.allocatedIPs;
    else status.allocatedIPs = text;
  }
  status.allocatedIPCount = Object.keys(entries).length;
  return { ...obj, status };
}
