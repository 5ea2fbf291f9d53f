// A pod and its SpiderEndpoint share their name and uid strings in the view (memory at scale); only equal strings
// are shared, so what the view answers, and every finding judged from it, stays as each object said.
import {
  ScanRecords,
  cachedDiff,
  cachedScan,
  recordsFromScan,
  sharedScanCache,
} from '../../../webhook/model/allocation-scan';
import { endpointFacts, podFacts, poolFacts } from '../../../webhook/model/object-facts';
import { DEFAULT_STATIC_IP_CONFIG, EndpointFacts, PodFacts } from '../../../webhook/model/types';
import { IndexedView } from '../../../webhook/model/view';
import { findings } from '../../../webhook/reconciler/findings';
import { NS } from '../../../testbed/fixtures';
import { endpoint, pod, pool } from '../support/reconciler-builders';

const IP = '10.6.0.9';
const podOf = (uid: string) => podFacts(pod({ name: 'api-1', uid, ips: [IP] }));
const endpointOf = (uid: string) =>
  endpointFacts(endpoint({ name: 'api-1', uid, ips: [[IP, 'p1']], objectUid: 'ep-object-uid' }));

function viewWith(order: 'pod first' | 'endpoint first', p: PodFacts, e: EndpointFacts): IndexedView {
  const v = new IndexedView();
  if (order === 'pod first') {
    v.upsertPod(p);
    v.upsertEndpoint(e);
  } else {
    v.upsertEndpoint(e);
    v.upsertPod(p);
  }
  return v;
}

function viewOf(order: 'pod first' | 'endpoint first', podUid: string, endpointPodUid: string): IndexedView {
  return viewWith(order, podOf(podUid), endpointOf(endpointPodUid));
}

describe.each(['pod first', 'endpoint first'] as const)('pod and endpoint cached %s', (order) => {
  test('same incarnation: each keeps its values', () => {
    const v = viewOf(order, 'uid-A', 'uid-A');
    expect(v.pod(NS, 'api-1')).toMatchObject({ name: 'api-1', uid: 'uid-A' });
    expect(v.endpoint(NS, 'api-1')).toMatchObject({ name: 'api-1', podUid: 'uid-A', objectUid: 'ep-object-uid' });
  });

  test('endpoint of another incarnation keeps its own current.uid, and the findings still see the mismatch and the leftover', () => {
    const v = viewOf(order, 'uid-B', 'uid-A');
    expect(v.pod(NS, 'api-1')?.uid).toBe('uid-B');
    expect(v.endpoint(NS, 'api-1')?.podUid).toBe('uid-A');
    v.upsertPool(poolFacts(pool({ name: 'p1', records: { [IP]: [`${NS}/api-1`, 'uid-B'] } })));
    expect(findings(v, DEFAULT_STATIC_IP_CONFIG).map((f) => f.finding)).toEqual([
      'RECORD_ENDPOINT_MISMATCH',
      'LEFTOVER_ENDPOINT',
    ]);
  });
});

// Their IP strings too: only an IP both list is exchanged, so each keeps its own IPs and both IP indexes answer as
// each object said, also for an IP only one of them lists.
describe.each(['pod first', 'endpoint first'] as const)('pod and endpoint IPs, cached %s', (order) => {
  test('each keeps its IPs and both are found by each of them', () => {
    const p = podFacts(pod({ name: 'api-1', uid: 'uid-A', ips: [IP, '10.6.0.10'] }));
    const e = endpointFacts(
      endpoint({
        name: 'api-1',
        uid: 'uid-A',
        ips: [
          [IP, 'p1'],
          ['10.6.0.11', 'p1'],
        ],
        objectUid: 'ep-object-uid',
      }),
    );
    const v = viewWith(order, p, e);
    expect(v.pod(NS, 'api-1')?.observedIPs).toEqual([IP, '10.6.0.10']);
    expect(v.endpoint(NS, 'api-1')?.ips.map((i) => i.ip)).toEqual([IP, '10.6.0.11']);
    expect(v.podsObserving(IP).map((x) => x.name)).toEqual(['api-1']);
    expect(v.podsObserving('10.6.0.10').map((x) => x.name)).toEqual(['api-1']);
    expect(v.podsObserving('10.6.0.11')).toEqual([]);
    expect(v.endpointsListing(IP).map((x) => x.name)).toEqual(['api-1']);
    expect(v.endpointsListing('10.6.0.11').map((x) => x.name)).toEqual(['api-1']);
    expect(v.endpointsListing('10.6.0.10')).toEqual([]);
  });

  test('frozen facts (as tests and snapshots may hand in) are left as they are', () => {
    const p = podFacts(pod({ name: 'api-1', uid: 'uid-A', ips: [IP] }));
    Object.freeze(p.observedIPs);
    const e = endpointFacts(endpoint({ name: 'api-1', uid: 'uid-A', ips: [[IP, 'p1']], objectUid: 'o' }));
    e.ips.forEach((i) => Object.freeze(i));
    const v = viewWith(order, p, e);
    expect(v.podsObserving(IP).map((x) => x.name)).toEqual(['api-1']);
    expect(v.endpointsListing(IP).map((x) => x.name)).toEqual(['api-1']);
  });
});

// A pool record of a cached pod shares the pod's uid string, found through whichever of pool, pod and endpoint
// arrives last; only equal uids are shared, so in every arrival order the records and the findings stay the same.
describe('pool record and pod share their uid', () => {
  const arrivals = [
    ['pool', 'pod', 'endpoint'],
    ['pool', 'endpoint', 'pod'],
    ['pod', 'pool', 'endpoint'],
    ['pod', 'endpoint', 'pool'],
    ['endpoint', 'pool', 'pod'],
    ['endpoint', 'pod', 'pool'],
  ] as const;

  function viewIn(order: readonly string[], podUid: string, recordUid: string, endpointUid: string): IndexedView {
    const v = new IndexedView();
    for (const what of order) {
      if (what === 'pool') v.upsertPool(poolFacts(pool({ name: 'p1', records: { [IP]: [`${NS}/api-1`, recordUid] } })));
      else if (what === 'pod') v.upsertPod(podOf(podUid));
      else v.upsertEndpoint(endpointOf(endpointUid));
    }
    return v;
  }

  test.each(arrivals)(
    'arriving %s, %s, %s: each record keeps its own uid and the findings are unchanged',
    (...order) => {
      for (const [podUid, recordUid, endpointUid] of [
        ['uid-A', 'uid-A', 'uid-A'],
        ['uid-B', 'uid-A', 'uid-A'],
        ['uid-A', 'uid-B', 'uid-A'],
        ['uid-A', 'uid-A', 'uid-B'],
      ]) {
        const v = viewIn(order, podUid, recordUid, endpointUid);
        const reference = viewIn(['pool', 'pod', 'endpoint'], podUid, recordUid, endpointUid);
        expect(v.pool('p1')?.records.get(IP)).toEqual({ pod: `${NS}/api-1`, podUid: recordUid });
        expect(v.pod(NS, 'api-1')?.uid).toBe(podUid);
        // (the fixtures number resourceVersions per object built, so findings are compared by kind, IP and message)
        const judged = (view: IndexedView) =>
          findings(view, DEFAULT_STATIC_IP_CONFIG).map((f) => [f.finding, f.ip, f.message]);
        expect(judged(v)).toEqual(judged(reference));
      }
    },
  );

  test('a record of another incarnation is still judged against the cached pod', () => {
    const v = viewIn(['pool', 'endpoint', 'pod'], 'uid-B', 'uid-A', 'uid-A');
    expect(findings(v, DEFAULT_STATIC_IP_CONFIG).map((f) => f.finding)).toContain('RECORD_UID_MISMATCH');
  });
});

describe('records built from a cached scan are known as such (their strings are the scan’s; nothing to share)', () => {
  const poolWith = (allocatedIPs: string) => ({
    metadata: { name: 'p1', uid: 'u' },
    spec: { subnet: '10.6.0.0/16', ipVersion: 4 },
    status: { allocatedIPs },
  });
  test('Spiderpool’s sorted form is scanned; an unsorted value takes the general parser', () => {
    const a = { pod: `${NS}/a`, podUid: 'uid-a' };
    const b = { pod: `${NS}/b`, podUid: 'uid-b' };
    const sorted = poolFacts(poolWith(JSON.stringify({ '10.6.0.1': a, '10.6.0.2': b })));
    const unsorted = poolFacts(poolWith(JSON.stringify({ '10.6.0.2': b, '10.6.0.1': a })));
    expect(recordsFromScan(sorted.records)).toBe(true);
    expect(recordsFromScan(unsorted.records)).toBe(false);
    expect([...unsorted.records].sort()).toEqual([...sorted.records].sort());
  });
});

// A scanned pool's keys take the IP strings of the pods observing them, found through whichever of pool, pod and
// endpoint arrives last, and again for each new scan of the pool; only equal strings are exchanged, so the pool's
// records, their order and the findings are those of the same objects cached in any other order.
describe('scanned pool keys and pod IPs share their strings', () => {
  const ips = ['10.6.0.9', '10.6.0.10', '10.6.0.11'];
  const recordsOf = (keep: string[]) =>
    Object.fromEntries(
      keep.map((ip) => [ip, [`${NS}/api-${ips.indexOf(ip)}`, `uid-${ips.indexOf(ip)}`] as [string, string]]),
    );
  // (a scanned pool reads its records in Spiderpool's order: the keys sorted as strings)
  const sorted = (keep: string[]) => [...keep].sort();
  // pods api-0 and api-1 observe their IPs; api-2's record names a pod that is not cached
  const podK = (k: number) => podFacts(pod({ name: `api-${k}`, uid: `uid-${k}`, ips: [ips[k]] }));
  const endpointK = (k: number) =>
    endpointFacts(endpoint({ name: `api-${k}`, uid: `uid-${k}`, ips: [[ips[k], 'p1']], objectUid: `o-${k}` }));
  const poolOf = (keep: string[]) => poolFacts(pool({ name: 'p1', records: recordsOf(keep) }));

  function viewIn(order: readonly ('pool' | 'pods' | 'endpoints')[]): IndexedView {
    const v = new IndexedView();
    for (const what of order) {
      if (what === 'pool') v.upsertPool(poolOf(ips));
      else if (what === 'pods') [0, 1].forEach((k) => v.upsertPod(podK(k)));
      else [0, 1].forEach((k) => v.upsertEndpoint(endpointK(k)));
    }
    return v;
  }
  const judged = (view: IndexedView) =>
    findings(view, DEFAULT_STATIC_IP_CONFIG).map((f) => [f.finding, f.ip, f.message]);

  test.each([
    ['pool', 'pods', 'endpoints'],
    ['pods', 'pool', 'endpoints'],
    ['pods', 'endpoints', 'pool'],
    ['endpoints', 'pods', 'pool'],
  ] as const)('arriving %s, %s, %s, and after the pool releases a record', (...order) => {
    const v = viewIn(order);
    expect(recordsFromScan(v.pool('p1')!.records)).toBe(true);
    expect([...v.pool('p1')!.records]).toEqual(
      sorted(ips).map((ip) => [ip, { pod: `${NS}/api-${ips.indexOf(ip)}`, podUid: `uid-${ips.indexOf(ip)}` }]),
    );
    expect(v.podsObserving(ips[1]).map((p) => p.name)).toEqual(['api-1']);
    expect(judged(v)).toEqual(judged(viewIn(['pool', 'pods', 'endpoints'])));
    // the pool's next write (api-0's record released) is a new scan; its keys are shared again
    v.upsertPool(poolOf([ips[1], ips[2]]));
    expect([...v.pool('p1')!.records.keys()]).toEqual(sorted([ips[1], ips[2]]));
    expect(v.pool('p1')!.records.get(ips[1])).toEqual({ pod: `${NS}/api-1`, podUid: 'uid-1' });
    expect(v.pool('p1')!.records.has(ips[0])).toBe(false);
  });

  test('a write the guard reviewed arrives as its diff’s scan, which keeps the earlier keys: read as before', () => {
    const v = viewIn(['pool', 'pods', 'endpoints']);
    const rawOf = (keep: string[]) =>
      (pool({ name: 'p1', records: recordsOf(keep) }).status as { allocatedIPs: string }).allocatedIPs;
    const addressing = { subnet: '10.6.0.0/16', family: 4 as const };
    const next = [ips[0], ips[2]];
    // as the admission path leaves it: the diff's new scan in the shared cache, where the informer's parse finds it
    const diff = cachedDiff(cachedScan(rawOf(ips), addressing)!, rawOf(next), addressing)!;
    expect(diff.newScan.derived).toBe(true);
    sharedScanCache.put(diff.newScan);
    const facts = poolFacts(pool({ name: 'p1', records: recordsOf(next) }));
    expect((facts.records as ScanRecords).derived).toBe(true);
    v.upsertPool(facts);
    expect([...v.pool('p1')!.records]).toEqual(
      sorted(next).map((ip) => [ip, { pod: `${NS}/api-${ips.indexOf(ip)}`, podUid: `uid-${ips.indexOf(ip)}` }]),
    );
    const reference = new IndexedView();
    [0, 1].forEach((k) => reference.upsertPod(podK(k)));
    [0, 1].forEach((k) => reference.upsertEndpoint(endpointK(k)));
    reference.upsertPool(poolOf(next));
    expect(judged(v)).toEqual(judged(reference));
  });
});
