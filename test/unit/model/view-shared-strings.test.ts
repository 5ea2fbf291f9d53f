// A pod and its SpiderEndpoint share their name and uid strings in the view (memory at scale); only equal strings
// are shared, so what the view answers, and every finding judged from it, stays as each object said.
import { endpointFacts, podFacts, poolFacts } from '../../../webhook/model/object-facts';
import { DEFAULT_STATIC_IP_CONFIG } from '../../../webhook/model/types';
import { IndexedView } from '../../../webhook/model/view';
import { findings } from '../../../webhook/reconciler/findings';
import { NS } from '../../../testbed/fixtures';
import { endpoint, pod, pool } from '../support/reconciler-builders';

const IP = '10.6.0.9';
const podOf = (uid: string) => podFacts(pod({ name: 'api-1', uid, ips: [IP] }));
const endpointOf = (uid: string) =>
  endpointFacts(endpoint({ name: 'api-1', uid, ips: [[IP, 'p1']], objectUid: 'ep-object-uid' }));

function viewOf(order: 'pod first' | 'endpoint first', podUid: string, endpointPodUid: string): IndexedView {
  const v = new IndexedView();
  if (order === 'pod first') {
    v.upsertPod(podOf(podUid));
    v.upsertEndpoint(endpointOf(endpointPodUid));
  } else {
    v.upsertEndpoint(endpointOf(endpointPodUid));
    v.upsertPod(podOf(podUid));
  }
  return v;
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
