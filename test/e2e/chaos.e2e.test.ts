/**
 * A short chaos run (bench/chaos, issue #6) on the shared test bed: one StatefulSet and one Deployment of 3
 * replicas on a 6-IP pool, the simulated node agent and the pre-fix (v0.9.4) Spiderpool GC, with the guard in
 * front, and one StatefulSet down/up cycle aimed at the GC's trace window. Whatever the GC attempts, no two alive pods may end up sharing an IP, and every denial the guard made
 * must be justified by the simulator's ground truth. No timing is asserted.
 */
import { runChaos, SHORT_TIMINGS, type RunResult } from '../../bench/chaos';
import { SMALL_WORKLOADS } from '../../bench/chaos/scenario';
import { testbed } from './support';

let result: RunResult;

beforeAll(async () => {
  process.env.SPG_BENCH_QUIET ??= '1';
  result = await runChaos(testbed(), {
    guard: true,
    gc: 'v0.9.4',
    seed: 7,
    index: 149,
    workloads: SMALL_WORKLOADS,
    replicas: 3,
    timings: SHORT_TIMINGS,
    reconcile: false,
    flap: true,
    cycles: 1,
  });
}, 240_000);

test('with the guard, the v0.9.4 GC causes no IP conflict', () => {
  expect(result.detail.conflictList).toEqual([]);
  expect(result.conflicts).toBe(0);
});

test('every guard denial is justified by the ground truth', () => {
  expect(result.detail.denialSummary.violations.filter((v) => !v.legitimate)).toEqual([]);
  expect(result.falseDenials).toBe(0);
});

test('the scenario ran its phases with pods getting IPs', () => {
  expect(result.detail.checks.map((c) => c.phase)).toEqual(['create', 'scale', 'restart']);
  expect(result.detail.agent.cmdAdd).toBeGreaterThan(0);
});
