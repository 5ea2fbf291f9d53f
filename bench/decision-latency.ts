/**
 * Decision latency of guard.evaluate + policy.judgeValidation for a status write to a pool of 5,000 records that
 * releases one record and allocates another (the IPAM's common write), on a view of 5,000 pods and endpoints.
 *
 *   npx tsx bench/decision-latency.ts [--records N] [--iterations N] [--series chained,cold,denied,held]
 *
 * Four series, each ≥200 timed iterations after a warm-up:
 *   chained   each write's old object is the previous write's new one, as the API server hands them out
 *   cold      every write is to a pool string the process has never seen (no reuse of earlier parsing)
 *   denied    chained, but the release is of a running pod (a LIVE_IP_RELEASE violation is built and judged)
 *   held      chained, in a pool that already holds a malformed entry the writes leave as it is (allowed)
 * Request building (JSON strings, objects) happens before timing; only the decision is timed.
 */
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { evaluate, GuardSettings } from '../webhook/guard/evaluate';
import { buildPolicy, judgeValidation } from '../webhook/guard/policy';
import { GuardRequest } from '../webhook/guard/request';
import { DEFAULT_GUARDED_USERS, UserMatcher } from '../webhook/guard/users';
import { DEFAULT_STATIC_IP_CONFIG } from '../webhook/model/types';
import {
  CONTROLLER_USER,
  Json,
  NS,
  Records,
  SA_GROUPS,
  bigCluster,
  goAllocatedIPs,
  ipv4Range,
  pod,
  rec,
  recordsOf,
  uid,
  viewOf,
} from '../testbed/fixtures';

const { values } = parseArgs({
  options: { records: { type: 'string' }, iterations: { type: 'string' }, series: { type: 'string' } },
});
const SERIES = (values.series ?? 'chained,cold,denied,held').split(',');
const RECORDS = Number(values.records ?? 5000);
const ITERATIONS = Math.max(200, Number(values.iterations ?? 300));
const WARMUP = 30;
const TOTAL = ITERATIONS + WARMUP;

const settings: GuardSettings = {
  staticIp: DEFAULT_STATIC_IP_CONFIG,
  guardedUsers: new UserMatcher(DEFAULT_GUARDED_USERS),
};
const policy = buildPolicy('enforce', [], new UserMatcher([]));

const big = bigCluster(RECORDS);
const view = viewOf(...big.objects);
const baseRecords = recordsOf(big.pool);
const spec = big.pool.spec as Json;
const metadata = big.pool.metadata as Json;

// releases: TOTAL records spread over the pool, whose pods are gone (a legitimate GC / cmdDel release)
const STRIDE = 7919; // prime, so i*STRIDE mod RECORDS visits distinct records
const releaseIndex = new Set<number>();
for (let i = 0; releaseIndex.size < TOTAL; i++) releaseIndex.add((i * STRIDE) % RECORDS);
const releaseIps = [...releaseIndex].map((k) => big.ips[k]);
// denied releases: other records spread over the pool, whose pods still run with their IP
const liveIps = big.ips
  .filter((_ip, k) => !releaseIndex.has(k))
  .filter((_ip, k, all) => k % Math.max(1, Math.floor(all.length / TOTAL)) === 0)
  .slice(0, TOTAL);
for (const ip of releaseIps) view.removePod(NS, baseRecords[ip].pod.split('/')[1]);
// allocations: free IPs after the pool's records, each for a Pending pod of its own
const freeIps = ipv4Range('10.6.200.1', TOTAL);
freeIps.forEach((ip, i) => {
  const name = `job-${i}-x7k2p`;
  view.upsertPod({ ...podFactsOf(pod({ name, uid: uid(`alloc/${i}`), phase: 'Pending' })) });
});

function podFactsOf(p: Json) {
  // through the snapshot loader so the facts are exactly what the server would keep
  return [...viewOf(p).allPods()][0];
}

function poolObject(allocatedIPs: string | undefined, count: number): Json {
  return {
    apiVersion: 'spiderpool.spidernet.io/v2beta1',
    kind: 'SpiderIPPool',
    metadata,
    spec,
    status: {
      ...(allocatedIPs === undefined ? {} : { allocatedIPs }),
      allocatedIPCount: count,
      totalIPCount: RECORDS + 10,
    },
  };
}

function request(oldObject: Json, object: Json, i: number): GuardRequest {
  return {
    uid: `bench-${i}`,
    operation: 'UPDATE',
    resource: { group: 'spiderpool.spidernet.io', version: 'v2beta1', resource: 'spiderippools' },
    subResource: 'status',
    name: String(metadata.name),
    user: CONTROLLER_USER,
    groups: SA_GROUPS,
    object,
    oldObject,
  };
}

/** Write i of a chain (old = the previous write's new); `release(i)` picks the IP released by write i. */
function* chained(release: (i: number) => string, held: Records = {}): Generator<GuardRequest> {
  const records: Records = { ...baseRecords, ...held };
  let oldText = goAllocatedIPs(records);
  for (let i = 0; i < TOTAL; i++) {
    delete records[release(i)];
    records[freeIps[i]] = rec(`${NS}/job-${i}-x7k2p`, uid(`alloc/${i}`));
    const newText = goAllocatedIPs(records);
    const n = Object.keys(records).length;
    yield request(poolObject(oldText, n), poolObject(newText, n), i);
    oldText = newText;
  }
}

function* cold(): Generator<GuardRequest> {
  for (let i = 0; i < TOTAL; i++) {
    // a record far from the change carries a unique uid, so no two old strings are equal
    const records: Records = {
      ...baseRecords,
      [big.ips[RECORDS - 1]]: rec(baseRecords[big.ips[RECORDS - 1]].pod, uid(`cold/${i}`)),
    };
    const oldText = goAllocatedIPs(records);
    delete records[releaseIps[i]];
    records[freeIps[i]] = rec(`${NS}/job-${i}-x7k2p`, uid(`alloc/${i}`));
    const n = Object.keys(records).length;
    yield request(poolObject(oldText, n), poolObject(goAllocatedIPs(records), n), i);
  }
}

/** Requests are built lazily, one at a time and outside the timed region, so the heap stays near production's. */
function measure(label: string, requests: Iterable<GuardRequest>, expectDenied: boolean): void {
  const times: number[] = [];
  let denied = 0;
  let i = 0;
  for (const req of requests) {
    const t0 = performance.now();
    const evaluation = evaluate(req, view, settings);
    const decision = judgeValidation(evaluation.violations, policy, req.user);
    const dt = performance.now() - t0;
    if (!decision.allowed) denied++;
    if (i++ >= WARMUP) times.push(dt);
  }
  if ((denied === i) !== expectDenied || (!expectDenied && denied > 0)) {
    throw new Error(`${label}: expected ${expectDenied ? 'denials' : 'no denials'}, got ${denied}/${i}`);
  }
  times.sort((a, b) => a - b);
  const q = (p: number) => times[Math.min(times.length - 1, Math.ceil(p * times.length) - 1)];
  process.stdout.write(
    `${label.padEnd(8)} n=${times.length}  median ${q(0.5).toFixed(3)} ms  p99 ${q(0.99).toFixed(3)} ms  max ${times[times.length - 1].toFixed(3)} ms\n`,
  );
}

process.stdout.write(
  `pool of ${RECORDS} records (${goAllocatedIPs(baseRecords)!.length} bytes of allocatedIPs), ${ITERATIONS} timed iterations + ${WARMUP} warm-up\n`,
);
if (SERIES.includes('chained'))
  measure(
    'chained',
    chained((i) => releaseIps[i]),
    false,
  );
if (SERIES.includes('cold')) measure('cold', cold(), false);
// denied: the released record's pod still runs with the IP
if (SERIES.includes('denied'))
  measure(
    'denied',
    chained((i) => liveIps[i]),
    true,
  );
// held: an entry whose pod is not "namespace/name", written before the guard was installed; never touched
if (SERIES.includes('held'))
  measure(
    'held',
    chained((i) => releaseIps[i], { '10.6.250.250': rec('no-namespace', uid('held')) }),
    false,
  );
