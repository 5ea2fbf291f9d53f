/**
 * Decision-only cost of the admission handler (decode, evaluate, judge, audit event building; no HTTP), over a view
 * like the guard's cache, for the admission bench's three reviews on both webhooks.
 *
 * Run alone (no test bed; for profiling): `npx tsx bench/admission/decisions.ts [--records 16384] [--pods 10000]`
 * (add `node --cpu-prof` through NODE_OPTIONS to see where the time goes).
 */
import { parseArgs } from 'node:util';
import { AdmissionHandler } from '../../webhook/admission/handler';
import { decodeReview } from '../../webhook/admission/envelope';
import { createLogger } from '../../webhook/log/logger';
import { MemoryAuditSink } from '../../webhook/audit/sink';
import { UserMatcher, DEFAULT_GUARDED_USERS } from '../../webhook/guard/users';
import { podFacts } from '../../webhook/model/object-facts';
import { IndexedView } from '../../webhook/model/view';
import { GHOSTS, PoolSpecFixture, podRef, reviewBodies } from './fixtures';

export interface DecisionCost {
  records: number;
  review: string;
  webhook: string;
  usPerReview: number;
  usPerRecord: number;
  /** CPU time (user + system, all threads) per record: steadier than the wall clock when other tenants load the machine */
  cpuUsPerRecord: number;
}

/** µs per decision over `pods` cached pods (uids[i] the uid of pod i), for each pool. */
export async function decisionMicrobench(
  pools: PoolSpecFixture[],
  pods: number,
  uids: string[],
): Promise<DecisionCost[]> {
  const view = new IndexedView();
  for (let i = 0; i < pods; i++) {
    const ref = podRef(i);
    const done = i < GHOSTS; // the completed pods whose records the GC releases
    view.upsertPod(
      podFacts({
        metadata: { name: ref.name, namespace: ref.namespace, uid: uids[i] },
        spec: { restartPolicy: done ? 'Never' : 'Always' },
        status: { phase: done ? 'Succeeded' : 'Pending' },
      }),
    );
  }
  const handler = new AdmissionHandler({
    view: () => view,
    synced: () => true,
    settings: { staticIp: { statefulSet: true, kubevirt: true }, guardedUsers: new UserMatcher(DEFAULT_GUARDED_USERS) },
    policy: { defaultMode: 'enforce', ruleModes: new Map(), exemptUsers: new UserMatcher([]) },
    audit: new MemoryAuditSink(),
    log: createLogger('silent'),
  });
  const out: DecisionCost[] = [];
  for (const p of pools) {
    // GHOSTS distinct writes against one old object: each decision diffs a new pair, as consecutive writes do
    const variants = Array.from({ length: GHOSTS }, (_, v) => reviewBodies(p, pods, (i) => uids[i], v));
    for (const review of ['release', 'releaseGone', 'allocation'] as const) {
      for (const webhook of ['validate', 'mutate'] as const) {
        const parsed = variants.map((b) => JSON.parse(b[review]) as unknown);
        const iterations = Math.max(48, Math.round(400_000 / p.records));
        for (const body of parsed) await handler.handle(webhook, decodeReview(body)); // warm: old scan cached
        const fresh = variants.map((b) => JSON.parse(b[review]) as unknown); // new string objects, as from the wire
        const t = process.hrtime.bigint();
        const cpu = process.cpuUsage();
        for (let i = 0; i < iterations; i++)
          await handler.handle(webhook, decodeReview(i < fresh.length ? fresh[i] : parsed[i % parsed.length]));
        const { user, system } = process.cpuUsage(cpu);
        const us = Number(process.hrtime.bigint() - t) / 1e3 / iterations;
        const perRecord = (x: number) => Math.round((x / p.records) * 1000) / 1000;
        out.push({
          records: p.records,
          review,
          webhook,
          usPerReview: Math.round(us * 10) / 10,
          usPerRecord: perRecord(us),
          cpuUsPerRecord: perRecord((user + system) / iterations),
        });
      }
    }
  }
  return out;
}

export function decisionTable(rows: DecisionCost[]): string[] {
  return [
    '| records | review | webhook | µs per review (decision only) | µs per record | CPU µs per record |',
    '|---|---|---|---|---|---|',
    ...rows.map(
      (d) =>
        `| ${d.records} | ${d.review} | ${d.webhook} | ${d.usPerReview} | ${d.usPerRecord} | ${d.cpuUsPerRecord} |`,
    ),
  ];
}

if (require.main === module) {
  const { values } = parseArgs({ options: { records: { type: 'string' }, pods: { type: 'string' } } });
  const records = (values.records ?? '256,4096,16384').split(',').map(Number);
  const pods = Number(values.pods ?? 10_000);
  const pools = records.map((n, i) => ({ name: `bench-${n}`, index: i + 1, records: n }));
  void decisionMicrobench(
    pools,
    pods,
    Array.from({ length: pods }, (_, i) => podRef(i).uid),
  ).then((rows) => {
    process.stdout.write(decisionTable(rows).join('\n') + '\n');
  });
}
