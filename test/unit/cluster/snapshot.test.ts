// Snapshots are what `kubectl get ... -A -o json` prints; anything else is unusable input (exit 2), not "healthy".
import { SnapshotError, viewFromSnapshot } from '../../../webhook/cluster/snapshot';

const pod = {
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'a', namespace: 'n', uid: 'u' },
  spec: {},
  status: { phase: 'Running', podIP: '10.0.0.1' },
};

describe('viewFromSnapshot', () => {
  test('reads a kubectl List (and a typed list such as PodList), ignoring kinds the guard does not read', () => {
    const view = viewFromSnapshot({
      apiVersion: 'v1',
      kind: 'List',
      items: [pod, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x' } }],
    });
    expect(view.pod('n', 'a')?.observedIPs).toEqual(['10.0.0.1']);
    expect(view.counts().pods).toBe(1);
    expect(viewFromSnapshot({ apiVersion: 'v1', kind: 'PodList', items: [pod] }).counts().pods).toBe(1);
  });

  test.each([
    ['a single object', pod, /got kind Pod/],
    [
      'an AdmissionReview',
      { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: {} },
      /got kind AdmissionReview/,
    ],
    ['a bare array', [pod], /got an array/],
    ['null', null, /got null/],
    ['a List without items', { kind: 'List' }, /expected the kind: List/],
    ['an item without kind', { kind: 'List', items: [{ metadata: {} }] }, /items\[0\] has no kind\/apiVersion/],
  ])('rejects %s with a one-line reason', (_what, doc, reason) => {
    expect(() => viewFromSnapshot(doc, 'snapshot s.json')).toThrow(SnapshotError);
    expect(() => viewFromSnapshot(doc, 'snapshot s.json')).toThrow(reason);
  });
});
