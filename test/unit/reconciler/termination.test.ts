// Findings ZOMBIE_IP_REUSE and TERMINATION_UNCONFIRMED (docs/rules.md, Findings), and the reconciler never acting on a
// pod whose termination is unconfirmed (docs/rules.md, Reconciler actions, "Never acted on").
import { DEFAULT_STATIC_IP_CONFIG } from '../../../webhook/model/types';
import { Finding } from '../../../webhook/reconciler/finding-types';
import {
  TERMINATION_UNCONFIRMED_AFTER_MS,
  findings,
  hasErrors,
  heldByUnconfirmedTermination,
} from '../../../webhook/reconciler/findings';
import { capacity } from '../../../webhook/reconciler/capacity';
import { plan } from '../../../webhook/reconciler/plan';
import {
  DELETED_AT_MS,
  Json,
  NS,
  OUT_OF_SERVICE,
  endpoint,
  launcherPod,
  node,
  pod,
  rec,
  uid,
  v4Pool,
  viewOf,
  vmi,
} from '../../../testbed/fixtures';

const CFG = DEFAULT_STATIC_IP_CONFIG;
const X = '10.6.168.101';
const OLD = 'api-6d9f7c-x2k8q';
const NEW = 'api-6d9f7c-q9w3e';
const A = uid('old#A');
const B = uid('new#B');
const LATER = DELETED_AT_MS + TERMINATION_UNCONFIRMED_AFTER_MS + 60_000;
const SOON = DELETED_AT_MS + 60_000;

const zombie = (o: Partial<Parameters<typeof pod>[0]> = {}) =>
  pod({ name: OLD, uid: A, ips: [X], deleting: true, nodeName: 'worker-1', ...o });
const unreachable = node({ name: 'worker-1', ready: 'Unknown' });
const oldEndpoint = () => endpoint({ name: OLD, podUid: A, nics: [{ ipv4: `${X}/16`, ipv4Pool: 'v4-pool' }] });

function found(objects: Json[], now = LATER, holdMaxMs?: number): Finding[] {
  return findings(viewOf(...objects), CFG, { now, holdMaxMs });
}
const named = (list: Finding[], name: string) => list.filter((f) => f.finding === name);

describe('ZOMBIE_IP_REUSE (error)', () => {
  it("the GC released the zombie's IP and the next pod got it: observed on an alive pod and recorded for it", () => {
    const objects = [
      v4Pool({ [X]: rec(`${NS}/${NEW}`, B) }),
      zombie(),
      unreachable,
      pod({ name: NEW, uid: B, ips: [X] }),
    ];
    const list = found(objects);
    const [f] = named(list, 'ZOMBIE_IP_REUSE');
    expect(f).toMatchObject({ severity: 'error', ip: X, node: 'worker-1', record: { pod: `${NS}/${NEW}`, podUid: B } });
    expect(f.pods!.map((p) => p.name)).toEqual([`${NS}/${OLD}`, `${NS}/${NEW}`]);
    expect(f.message).toContain('node worker-1 (Ready Unknown) has not confirmed');
    expect(hasErrors(list)).toBe(true);
    // judged without a clock too: ZOMBIE_IP_REUSE does not depend on time
    expect(named(findings(viewOf(...objects), CFG), 'ZOMBIE_IP_REUSE')).toHaveLength(1);
  });

  it('recorded for another pod that does not observe it yet (the next pod still starting)', () => {
    const list = found([
      v4Pool({ [X]: rec(`${NS}/${NEW}`, B) }),
      zombie(),
      unreachable,
      pod({ name: NEW, uid: B, phase: 'Pending' }),
    ]);
    expect(named(list, 'ZOMBIE_IP_REUSE')).toHaveLength(1);
  });

  it('not reported once termination is confirmed (the old pod really stopped)', () => {
    const objects = [v4Pool({ [X]: rec(`${NS}/${NEW}`, B) }), pod({ name: NEW, uid: B, ips: [X] })];
    expect(named(found([...objects, zombie({ containers: 'terminated' }), unreachable]), 'ZOMBIE_IP_REUSE')).toEqual(
      [],
    );
    expect(
      named(
        found([...objects, zombie(), node({ name: 'worker-1', ready: 'Unknown', taints: [OUT_OF_SERVICE] })]),
        'ZOMBIE_IP_REUSE',
      ),
    ).toEqual([]);
  });

  it("not reported while the IP is still the zombie's own (recorded for it, no one else observes it)", () => {
    expect(
      named(found([v4Pool({ [X]: rec(`${NS}/${OLD}`, A) }), zombie(), unreachable, oldEndpoint()]), 'ZOMBIE_IP_REUSE'),
    ).toEqual([]);
  });

  it('two launcher pods of one VMI are one pod (live migration): not a reuse', () => {
    const list = found([
      v4Pool({ [X]: rec(`${NS}/vm1`, B) }),
      vmi({ name: 'vm1' }),
      launcherPod('vm1', { suffix: 'src', uid: A, ips: [X], deleting: true, nodeName: 'worker-1' }),
      launcherPod('vm1', { suffix: 'dst', uid: B, ips: [X] }),
      unreachable,
    ]);
    expect(named(list, 'ZOMBIE_IP_REUSE')).toEqual([]);
  });
});

describe('TERMINATION_UNCONFIRMED (warn)', () => {
  const objects = [v4Pool({ [X]: rec(`${NS}/${OLD}`, A) }), zombie(), unreachable, oldEndpoint()];

  it('a record of a pod whose termination is unconfirmed for more than 5 minutes', () => {
    const [f] = named(found(objects), 'TERMINATION_UNCONFIRMED');
    expect(f).toMatchObject({
      severity: 'warn',
      pool: 'v4-pool',
      ip: X,
      record: { pod: `${NS}/${OLD}`, podUid: A },
      node: 'worker-1',
    });
    expect(f.message).toContain('deleted 6 min ago');
    expect(f.message).toContain('node.kubernetes.io/out-of-service');
    expect(hasErrors(named(found(objects), 'TERMINATION_UNCONFIRMED'))).toBe(false);
  });

  it('not within the first 5 minutes, nor without a clock', () => {
    expect(named(found(objects, SOON), 'TERMINATION_UNCONFIRMED')).toEqual([]);
    expect(named(findings(viewOf(...objects), CFG), 'TERMINATION_UNCONFIRMED')).toEqual([]);
  });

  it('not once confirmed: containers terminated, Node deleted or tainted, or past the hold max', () => {
    const pool = v4Pool({ [X]: rec(`${NS}/${OLD}`, A) });
    expect(named(found([pool, zombie({ containers: 'terminated' }), unreachable]), 'TERMINATION_UNCONFIRMED')).toEqual(
      [],
    );
    expect(named(found([pool, zombie(), node({ name: 'worker-9' })]), 'TERMINATION_UNCONFIRMED')).toEqual([]);
    expect(
      named(
        found([pool, zombie(), node({ name: 'worker-1', ready: 'Unknown', taints: [OUT_OF_SERVICE] })]),
        'TERMINATION_UNCONFIRMED',
      ),
    ).toEqual([]);
    expect(named(found([pool, zombie(), unreachable], LATER, 5 * 60_000), 'TERMINATION_UNCONFIRMED')).toEqual([]);
  });

  it('not for a record of another uid of that name', () => {
    expect(
      named(found([v4Pool({ [X]: rec(`${NS}/${OLD}`, B) }), zombie(), unreachable]), 'TERMINATION_UNCONFIRMED'),
    ).toEqual([]);
  });
});

describe('the reconciler never acts on a pod whose termination is unconfirmed', () => {
  it('no RELEASE_IP nor DELETE_ENDPOINT for it, however long it has been terminating', () => {
    const view = viewOf(v4Pool({ [X]: rec(`${NS}/${OLD}`, A) }), zombie(), unreachable, oldEndpoint());
    const p = plan(view, {
      staticIp: CFG,
      user: 'system:serviceaccount:kube-system:spiderpool-guard',
      termination: { now: LATER },
    });
    expect(p.actions).toEqual([]);
    expect(p.blocked).toEqual([]);
    expect(p.findings.map((f) => f.finding)).toContain('TERMINATION_UNCONFIRMED');
  });
});

describe('held_terminating: the capacity counts the records UNCONFIRMED_TERMINATION_RELEASE holds', () => {
  const pool = () => v4Pool({ [X]: rec(`${NS}/${OLD}`, A) });
  const held = (objects: Json[], holdMaxMs?: number) => {
    const view = viewOf(...objects);
    const p = view.pool('v4-pool')!;
    return heldByUnconfirmedTermination(view, CFG, { now: SOON, holdMaxMs })(p, X);
  };

  it('a record of a pod being deleted whose node has not confirmed', () => {
    expect(held([pool(), zombie(), unreachable])).toBe(true);
    const view = viewOf(pool(), zombie(), unreachable);
    const planned = plan(view, { staticIp: CFG, user: 'system:serviceaccount:kube-system:spiderpool-guard' }).actions;
    expect(
      capacity(view, planned, { heldTerminating: heldByUnconfirmedTermination(view, CFG, { now: SOON }) }),
    ).toEqual([expect.objectContaining({ pool: 'v4-pool', recorded: 1, leftover: 0, held_terminating: 1 })]);
  });

  it('not once confirmed, nor past the hold max, nor for another uid, nor for a pod not being deleted', () => {
    expect(held([pool(), zombie({ containers: 'terminated' }), unreachable])).toBe(false);
    expect(held([pool(), zombie(), node({ name: 'worker-1', ready: 'Unknown', taints: [OUT_OF_SERVICE] })])).toBe(
      false,
    );
    expect(held([pool(), zombie()], 30_000)).toBe(false);
    expect(held([pool(), zombie({ uid: B }), unreachable])).toBe(false);
    expect(held([pool(), pod({ name: OLD, uid: A, ips: [X] })])).toBe(false);
  });
});
