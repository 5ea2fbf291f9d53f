// "Termination confirmed" (docs/rules.md, Terms): each way a pod's termination is confirmed, and its unconfirmed twin.
import { podTerminationState, terminationState } from '../../../webhook/model/termination';
import { nodeFacts, podFacts } from '../../../webhook/model/object-facts';
import { DELETED_AT_MS, OUT_OF_SERVICE, node, pod, viewOf } from '../../../testbed/fixtures';

const NOW = DELETED_AT_MS + 10 * 60_000;
const zombie = (o: Parameters<typeof pod>[0] extends infer P ? Partial<P> : never = {}) =>
  podFacts(pod({ name: 'api-7d9f', ips: ['10.6.0.7'], deleting: true, nodeName: 'worker-1', ...o }));
const ready = nodeFacts(node({ name: 'worker-1' }));
const unknown = nodeFacts(node({ name: 'worker-1', ready: 'Unknown' }));

describe('terminationState: each way to confirm, and its unconfirmed twin', () => {
  it('a pod that is not being deleted is not terminating', () => {
    expect(terminationState(podFacts(pod({ name: 'a', ips: ['10.6.0.7'] })), ready, NOW)).toEqual({
      state: 'not-deleting',
    });
  });

  it('unconfirmed: containers still running on a node that stopped reporting (the zombie)', () => {
    expect(terminationState(zombie(), unknown, NOW)).toEqual({
      state: 'unconfirmed',
      nodeName: 'worker-1',
      deletedAt: DELETED_AT_MS,
      nodeReady: 'Unknown',
      waitingFor: 'containers',
    });
    // the node's Ready status does not confirm anything: a Ready node that has not reported is still waited for
    expect(terminationState(zombie(), ready, NOW)).toMatchObject({ state: 'unconfirmed', nodeReady: 'True' });
  });

  it('phase Succeeded or Failed confirms; Running does not', () => {
    expect(terminationState(zombie({ phase: 'Succeeded' }), unknown, NOW)).toMatchObject({
      state: 'confirmed',
      by: 'terminal-phase',
    });
    expect(terminationState(zombie({ phase: 'Failed' }), unknown, NOW)).toMatchObject({
      state: 'confirmed',
      by: 'terminal-phase',
    });
    expect(terminationState(zombie({ phase: 'Running' }), unknown, NOW).state).toBe('unconfirmed');
  });

  it('every container terminated confirms; one still running does not', () => {
    expect(terminationState(zombie({ containers: 'terminated' }), unknown, NOW)).toMatchObject({
      state: 'confirmed',
      by: 'containers-terminated',
    });
    expect(terminationState(zombie({ containers: 'two-one-running' }), unknown, NOW)).toMatchObject({
      state: 'unconfirmed',
      waitingFor: 'containers',
    });
  });

  it('no container statuses confirms only without observed IPs', () => {
    expect(terminationState(zombie({ containers: 'none', ips: [] }), unknown, NOW)).toMatchObject({
      state: 'confirmed',
      by: 'no-containers-no-ips',
    });
    expect(terminationState(zombie({ containers: 'none' }), unknown, NOW)).toMatchObject({
      state: 'unconfirmed',
      waitingFor: 'container-statuses',
    });
  });

  it('no spec.nodeName (never ran) confirms; a node name does not', () => {
    const unscheduled = podFacts(
      edit(
        pod({ name: 'p', ips: ['10.6.0.7'], deleting: true }),
        (o) => delete (o.spec as Record<string, unknown>).nodeName,
      ),
    );
    expect(terminationState(unscheduled, undefined, NOW)).toMatchObject({ state: 'confirmed', by: 'never-scheduled' });
    expect(terminationState(zombie(), undefined, NOW).state).toBe('unconfirmed');
  });

  it('the Node not existing confirms; a Node that exists (or is not known) does not', () => {
    expect(terminationState(zombie(), null, NOW)).toMatchObject({ state: 'confirmed', by: 'node-gone' });
    expect(terminationState(zombie(), unknown, NOW).state).toBe('unconfirmed');
    // Nodes not known (a snapshot without Nodes): the node is assumed to exist, without taints
    expect(terminationState(zombie(), undefined, NOW)).toMatchObject({ state: 'unconfirmed', nodeReady: undefined });
  });

  it('the out-of-service taint confirms, with any effect; other taints do not', () => {
    const oos = nodeFacts(node({ name: 'worker-1', ready: 'Unknown', taints: [OUT_OF_SERVICE] }));
    expect(terminationState(zombie(), oos, NOW)).toMatchObject({ state: 'confirmed', by: 'out-of-service' });
    const noSchedule = nodeFacts(
      node({
        name: 'worker-1',
        ready: 'Unknown',
        taints: [{ key: 'node.kubernetes.io/out-of-service', effect: 'NoSchedule' }],
      }),
    );
    expect(terminationState(zombie(), noSchedule, NOW)).toMatchObject({ state: 'confirmed', by: 'out-of-service' });
    const unreachable = nodeFacts(
      node({
        name: 'worker-1',
        ready: 'Unknown',
        taints: [{ key: 'node.kubernetes.io/unreachable', effect: 'NoExecute' }],
      }),
    );
    expect(terminationState(zombie(), unreachable, NOW).state).toBe('unconfirmed');
  });

  it('past the hold max confirms; within it, or without one, does not', () => {
    expect(terminationState(zombie(), unknown, NOW, 9 * 60_000)).toMatchObject({
      state: 'confirmed',
      by: 'hold-expired',
    });
    expect(terminationState(zombie(), unknown, NOW, 10 * 60_000).state).toBe('unconfirmed'); // "more than", not "at"
    expect(terminationState(zombie(), unknown, NOW, 11 * 60_000).state).toBe('unconfirmed');
    expect(terminationState(zombie(), unknown, NOW).state).toBe('unconfirmed');
    // without a clock (NaN) a hold max never expires
    expect(terminationState(zombie(), unknown, NaN, 1).state).toBe('unconfirmed');
  });
});

describe('podTerminationState looks the Node up in the view', () => {
  const p = pod({ name: 'api-7d9f', ips: ['10.6.0.7'], deleting: true, nodeName: 'worker-1' });

  it('a snapshot without Nodes judges from the pod alone', () => {
    const view = viewOf(p);
    expect(view.tracksNodes()).toBe(false);
    expect(podTerminationState(view, view.pod('demo', 'api-7d9f')!, NOW)).toMatchObject({
      state: 'unconfirmed',
      nodeReady: undefined,
    });
  });

  it("a snapshot with Nodes: the pod's node missing from it does not exist", () => {
    const view = viewOf(p, node({ name: 'worker-2' }));
    expect(podTerminationState(view, view.pod('demo', 'api-7d9f')!, NOW)).toMatchObject({
      state: 'confirmed',
      by: 'node-gone',
    });
  });

  it('a snapshot with the tainted Node', () => {
    const view = viewOf(p, node({ name: 'worker-1', ready: 'Unknown', taints: [OUT_OF_SERVICE] }));
    expect(podTerminationState(view, view.pod('demo', 'api-7d9f')!, NOW)).toMatchObject({
      state: 'confirmed',
      by: 'out-of-service',
    });
  });
});

describe('trimmed facts', () => {
  it('a pod not being deleted carries no termination facts', () => {
    expect(podFacts(pod({ name: 'a', ips: ['10.6.0.7'] })).termination).toBeUndefined();
  });

  it('a deleting pod carries deletionTimestamp, node name and the containers summary', () => {
    expect(zombie().termination).toEqual({ deletedAt: DELETED_AT_MS, nodeName: 'worker-1', containers: 'running' });
  });

  it('a Date deletionTimestamp (client-node typed objects) reads the same', () => {
    const o = pod({ name: 'a', ips: ['10.6.0.7'], deleting: true });
    (o.metadata as Record<string, unknown>).deletionTimestamp = new Date(DELETED_AT_MS);
    expect(podFacts(o).termination?.deletedAt).toBe(DELETED_AT_MS);
  });

  it('a Node keeps its name, Ready status and taints (key, effect), nothing else', () => {
    const n = nodeFacts(node({ name: 'worker-1', ready: 'Unknown', taints: [OUT_OF_SERVICE] }));
    expect(n).toEqual({
      name: 'worker-1',
      ready: 'Unknown',
      taints: [{ key: 'node.kubernetes.io/out-of-service', effect: 'NoExecute' }],
    });
    expect(nodeFacts({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'bare' } })).toEqual({
      name: 'bare',
      ready: '',
      taints: [],
    });
  });
});

function edit(o: Record<string, unknown>, f: (o: Record<string, unknown>) => void): Record<string, unknown> {
  f(o);
  return o;
}

describe('termination facts shared between pods deleted alike', () => {
  it('pods deleted in the same second on the same node share one read-only facts object; any difference gets its own', () => {
    const a = zombie({ name: 'a' });
    const b = zombie({ name: 'b' });
    expect(a.termination).toBe(b.termination);
    const otherNode = zombie({ name: 'c', nodeName: 'worker-2' });
    const otherSecond = zombie({ name: 'd', deletedAt: '2026-11-22T02:00:01Z' });
    const stopped = zombie({ name: 'e', containers: 'terminated' });
    for (const p of [otherNode, otherSecond, stopped]) expect(p.termination).not.toBe(a.termination);
    expect(otherNode.termination).toEqual({ deletedAt: DELETED_AT_MS, nodeName: 'worker-2', containers: 'running' });
    expect(otherSecond.termination).toEqual({
      deletedAt: DELETED_AT_MS + 1000,
      nodeName: 'worker-1',
      containers: 'running',
    });
    expect(stopped.termination).toEqual({ deletedAt: DELETED_AT_MS, nodeName: 'worker-1', containers: 'terminated' });
    // each pod is judged from its own facts as before
    expect(terminationState(otherNode, unknown, NOW)).toMatchObject({ state: 'unconfirmed', nodeName: 'worker-2' });
    expect(terminationState(stopped, unknown, NOW)).toMatchObject({ state: 'confirmed' });
  });
});
