/**
 * `npm run -s bench -- admission [--json] [--seconds S] [--pods N]`
 *
 * Admission cost of the guard against the physical floor of an express webhook, on the real test bed:
 *   1. fills the test bed with 10,000 pods, 10,000 endpoints and pools of 256, 4,096 and 16,384 records;
 *   2. starts `serve` (warm, synced caches of all of it) and a minimal HTTPS express server (baseline) that parses
 *      the same body and answers allowed;
 *   3. replays realistic AdmissionReviews (a GC release of a gone pod's record, an agent allocation) at
 *      concurrency 1, 8, 32 against both, on both webhooks (validate, mutate), printing p50/p99 and throughput;
 *   4. decision-only microbenchmark (no HTTP) and the guard's RSS.
 */
import * as k8s from '@kubernetes/client-node';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { AdmissionHandler } from '../../webhook/admission/handler';
import { decodeReview } from '../../webhook/admission/review';
import { createLogger } from '../../webhook/log/logger';
import { MemoryAuditSink } from '../../webhook/audit/sink';
import { UserMatcher, DEFAULT_GUARDED_USERS } from '../../webhook/guard/users';
import { podFacts } from '../../webhook/model/trim';
import { IndexedView } from '../../webhook/model/view';
import { loopbackCerts, startGuard, REPO_ROOT } from '../../test/testbed/guard';
import { startTestbed } from '../../test/testbed/testbed';
import { GHOSTS, GHOST_NAMESPACE, PoolSpecFixture, ReviewKind, ghostName, podRef, reviewBodies } from './fixtures';
import { LoadResult, runLoad } from './load';
import { populate } from './populate';

const ALL_POOLS: PoolSpecFixture[] = [
  { name: 'bench-256', index: 1, records: 256 },
  { name: 'bench-4096', index: 2, records: 4096 },
  { name: 'bench-16384', index: 3, records: 16384 },
];
let POOLS = ALL_POOLS;
const ALL_CONCURRENCY = [1, 8, 32];

/** Pods the GC's releases name: created before the guard starts, deleted while it watches (a scale-down). */
async function createGhosts(core: k8s.CoreV1Api): Promise<string[]> {
  await core.createNamespace({ body: { metadata: { name: GHOST_NAMESPACE } } }).catch(() => undefined);
  const uids: string[] = [];
  for (let g = 0; g < GHOSTS; g++) {
    const body = { metadata: { name: ghostName(g) }, spec: { containers: [{ name: 'main', image: 'registry.k8s.io/pause:3.10' }] } };
    for (let t = 0; ; t++) {
      try {
        uids.push((await core.createNamespacedPod({ namespace: GHOST_NAMESPACE, body })).metadata!.uid!);
        break;
      } catch (err) {
        if (t > 100) throw err; // the namespace's default ServiceAccount may not exist yet
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }
  return uids;
}

const say = (s: string) => process.stderr.write(`[admission-bench] ${s}\n`);

function rssMb(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return Math.round(kb / 1024);
}

function flag(argv: string[], name: string): string | undefined {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
}

/** µs per decision (evaluate + judge + audit event building), no HTTP, over a view like the guard's cache. */
async function decisionMicrobench(pods: number, uids: string[]) {
  const view = new IndexedView();
  for (let i = 0; i < pods; i++) {
    const ref = podRef(i);
    const done = i < GHOSTS; // the completed pods whose records the GC releases
    view.upsertPod(podFacts({ metadata: { name: ref.name, namespace: ref.namespace, uid: uids[i] }, spec: { restartPolicy: done ? 'Never' : 'Always' }, status: { phase: done ? 'Succeeded' : 'Pending' } }));
  }
  const handler = new AdmissionHandler({
    view: () => view,
    synced: () => true,
    settings: { staticIp: { statefulSet: true, kubevirt: true }, guardedUsers: new UserMatcher(DEFAULT_GUARDED_USERS) },
    policy: { defaultMode: 'enforce', ruleModes: new Map(), exemptUsers: new UserMatcher([]) },
    audit: new MemoryAuditSink(),
    log: createLogger('silent'),
  });
  const out: { records: number; review: string; webhook: string; usPerReview: number; usPerRecord: number }[] = [];
  for (const p of POOLS) {
    // GHOSTS distinct writes against one old object: each decision diffs a new pair, as consecutive writes do
    const variants = Array.from({ length: GHOSTS }, (_, v) => reviewBodies(p, pods, (i) => uids[i], v));
    for (const review of ['release', 'releaseGone', 'allocation'] as const) {
      for (const webhook of ['validate', 'mutate'] as const) {
        const parsed = variants.map((b) => JSON.parse(b[review]) as unknown);
        const iterations = Math.max(48, Math.round(400_000 / p.records));
        for (const body of parsed) await handler.handle(webhook, decodeReview(body)); // warm: old scan cached
        const fresh = variants.map((b) => JSON.parse(b[review]) as unknown); // new string objects, as from the wire
        const t = process.hrtime.bigint();
        for (let i = 0; i < iterations; i++) await handler.handle(webhook, decodeReview(i < fresh.length ? fresh[i] : parsed[i % parsed.length]));
        const us = Number(process.hrtime.bigint() - t) / 1e3 / iterations;
        out.push({ records: p.records, review, webhook, usPerReview: Math.round(us * 10) / 10, usPerRecord: Math.round((us / p.records) * 1000) / 1000 });
      }
    }
  }
  return out;
}

interface Case {
  records: number;
  concurrency: number;
  webhook: 'validate' | 'mutate';
  review: ReviewKind;
  guard: LoadResult;
  baseline: LoadResult;
  p99Ratio: number;
  rpsRatio: number;
}

const r2 = (x: number) => Math.round(x * 100) / 100;
const slim = (l: LoadResult) => ({ p50Ms: r2(l.p50Ms), p99Ms: r2(l.p99Ms), rps: Math.round(l.rps), requests: l.requests, errors: l.errors });

export async function runAdmissionBench(argv: string[]): Promise<number> {
  const json = argv.includes('--json');
  const seconds = Number(flag(argv, '--seconds') ?? 3);
  const pods = Number(flag(argv, '--pods') ?? 10_000);
  // --records 256 / --concurrency 8: only those cases (the release pools and records are still all created)
  const onlyRecords = flag(argv, '--records');
  const onlyConcurrency = flag(argv, '--concurrency');
  const CONCURRENCY = onlyConcurrency ? ALL_CONCURRENCY.filter((c) => c === Number(onlyConcurrency)) : ALL_CONCURRENCY;
  const t0 = Date.now();
  // A 16,384-record pool (about 1.7 MB stored) is over etcd's default 1.5 MiB request limit.
  process.env.SPG_ETCD_MAX_REQUEST_BYTES ??= String(8 * 1024 * 1024);
  const tb = await startTestbed({ name: 'bench-admission', showProgress: false });
  let stopGuard = async () => {};
  let stopBaseline = () => {};
  try {
    const kc = tb.kubeConfig();
    say(`test bed up; filling it with ${pods} pods, ${pods} endpoints, pools of ${POOLS.map((p) => p.records).join('/')} records`);
    const uids = await populate(kc, tb.kubeconfigPath, ALL_POOLS, pods, say);
    POOLS = onlyRecords ? ALL_POOLS.filter((p) => p.records === Number(onlyRecords)) : ALL_POOLS;
    const core = kc.makeApiClient(k8s.CoreV1Api);
    const ghostUids = await createGhosts(core);

    const certs = await loopbackCerts();
    const tStart = Date.now();
    const guard = await startGuard({ kubeconfigPath: tb.kubeconfigPath, certs });
    stopGuard = guard.stop;
    const syncSeconds = (Date.now() - tStart) / 1000;
    const guardPid = guard.proc.pid!;
    // let the informers settle and the heap shrink after the initial lists
    await new Promise((r) => setTimeout(r, 3000));
    const rssCaches = rssMb(guardPid);
    for (let g = 0; g < GHOSTS; g++) await core.deleteNamespacedPod({ namespace: GHOST_NAMESPACE, name: ghostName(g), gracePeriodSeconds: 0 });
    await new Promise((r) => setTimeout(r, 2000)); // the guard's pod watch delivers the deletions
    say(`${GHOSTS} pods the releaseGone records name deleted while the guard watches`);
    say(`guard ready (caches synced) in ${syncSeconds.toFixed(1)} s; RSS ${rssCaches} MB with the caches loaded`);

    const tsx = path.join(REPO_ROOT, 'node_modules', '.bin', 'tsx');
    const baseline = spawn(tsx, [path.join(__dirname, 'baseline-server.ts'), certs.certFile, certs.keyFile], { stdio: ['ignore', 'pipe', 'inherit'] });
    stopBaseline = () => baseline.kill('SIGTERM');
    const baselinePort = await new Promise<number>((resolve, reject) => {
      baseline.stdout!.once('data', (d: Buffer) => resolve(Number(d.toString().trim())));
      baseline.once('exit', (code) => reject(new Error(`baseline server exited ${code}`)));
    });
    const baselineUrl = `https://127.0.0.1:${baselinePort}/validate`;

    const cases: Case[] = [];
    const rssByPool: Record<string, number> = { caches: rssCaches };
    for (const p of POOLS) {
      // --unwatched-ghosts: the records name uids that never existed (no tombstone: the pod is read live per review)
      const bodies = reviewBodies(p, pods, (i) => uids[i], 0, argv.includes('--unwatched-ghosts') ? undefined : (g) => ghostUids[g]);
      const kb = Math.round(Buffer.byteLength(bodies.release) / 1024);
      for (const concurrency of CONCURRENCY) {
        const body = Buffer.from(bodies.release);
        const base = await runLoad({ url: baselineUrl, ca: certs.ca, body, concurrency, seconds });
        const runs: [Case['webhook'], Case['review'], string][] = [
          ['validate', 'release', bodies.release],
          ['mutate', 'release', bodies.release],
          ['validate', 'releaseGone', bodies.releaseGone],
          ['validate', 'allocation', bodies.allocation],
        ];
        for (const [webhook, review, b] of runs) {
          const g = await runLoad({ url: `${guard.url}/${webhook}/spiderippools`, ca: certs.ca, body: Buffer.from(b), concurrency, seconds });
          cases.push({ records: p.records, concurrency, webhook, review, guard: g, baseline: base, p99Ratio: r2(g.p99Ms / base.p99Ms), rpsRatio: r2(g.rps / base.rps) });
          say(
            `${p.records} records (${kb} KiB body), c=${concurrency}, ${webhook}/${review}: guard p50 ${g.p50Ms.toFixed(1)} p99 ${g.p99Ms.toFixed(1)} ms ${g.rps.toFixed(0)}/s` +
              ` | baseline p50 ${base.p50Ms.toFixed(1)} p99 ${base.p99Ms.toFixed(1)} ms ${base.rps.toFixed(0)}/s${g.errors ? ` | ${g.errors} errors` : ''}`,
          );
        }
      }
      rssByPool[String(p.records)] = rssMb(guardPid);
    }
    const decisions = await decisionMicrobench(pods, uids);
    const largest = decisions.filter((d) => d.records === POOLS[POOLS.length - 1].records && d.webhook === 'validate' && d.review === 'release')[0];
    const summary = {
      machine: '2 cores, 24 GiB (this workplace)',
      cases: cases.map((c) => ({
        records: c.records,
        concurrency: c.concurrency,
        webhook: c.webhook,
        review: c.review,
        guard: slim(c.guard),
        baseline: slim(c.baseline),
        p99Ratio: c.p99Ratio,
        rpsRatio: c.rpsRatio,
      })),
      decisionUsPerRecord: largest?.usPerRecord,
      decisions,
      rssMb: rssByPool,
      cacheSyncSeconds: r2(syncSeconds),
      seconds: Math.round((Date.now() - t0) / 1000),
    };
    if (json) process.stdout.write(JSON.stringify(summary) + '\n');
    else {
      const rows = summary.cases.map(
        (c) =>
          `| ${c.records} | ${c.concurrency} | ${c.webhook}/${c.review} | ${c.guard.p50Ms} | ${c.guard.p99Ms} | ${c.guard.rps} | ${c.baseline.p50Ms} | ${c.baseline.p99Ms} | ${c.baseline.rps} | ${c.p99Ratio} | ${c.rpsRatio} |`,
      );
      process.stdout.write(
        [
          '| records | conc. | webhook/review | guard p50 ms | guard p99 ms | guard req/s | baseline p50 ms | baseline p99 ms | baseline req/s | p99 ratio | req/s ratio |',
          '|---|---|---|---|---|---|---|---|---|---|---|',
          ...rows,
          '',
          '| records | review | webhook | µs per review (decision only) | µs per record |',
          '|---|---|---|---|---|',
          ...decisions.map((d) => `| ${d.records} | ${d.review} | ${d.webhook} | ${d.usPerReview} | ${d.usPerRecord} |`),
          '',
          `guard RSS (MB): ${Object.entries(rssByPool).map(([k, v]) => `${k === 'caches' ? `after sync (${pods} pods/endpoints, ${POOLS.reduce((n, p) => n + p.records, 0)} records)` : `after ${k}-record runs`} ${v}`).join('; ')}`,
          `cache sync ${summary.cacheSyncSeconds} s; total ${summary.seconds} s`,
          '',
        ].join('\n'),
      );
    }
    return 0;
  } finally {
    stopBaseline();
    await stopGuard();
    await tb.stop();
  }
}
