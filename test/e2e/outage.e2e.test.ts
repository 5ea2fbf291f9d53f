/**
 * API server outages under load (issue #9 items 5 and 10), on a PRIVATE test bed: freezing or killing its API server
 * would break every other test file of the run.
 *
 * Two guards watch the same test bed: one fail-open (the default) with the reconciler and the metrics listener on,
 * one --fail-closed. A stream of AdmissionReviews goes to both (a release of a live pod's record: denied while the
 * caches are trusted), pods and records churn through the API server, and /readyz is polled. Then:
 *   (a) the API server is frozen (SIGSTOP) for 30 s, then resumed (SIGCONT);
 *   (b) the API server is killed (SIGKILL) and started again.
 * Each time: /readyz goes 503 naming stale-cache and back to 200; decisions made while stale fail open (or closed)
 * with cause stale-cache, and once a guard's /readyz is 200 again it denies on its cache (each guard judged by its own
 * /readyz); within 5 s of the API server's /readyz answering 200 the guard's caches hold objects
 * created at that moment (measured by resourceVersion, which the guard reports per cache on /readyz); and no live
 * pod's record or endpoint is lost. The recovery times are printed.
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import * as path from 'node:path';
import { kubeRequest, type Credentials } from '../../testbed/cluster';
import {
  loopbackCerts,
  registerWebhooks,
  startGuard,
  type GuardProcess,
  type LoopbackCerts,
} from '../../testbed/guard';
import { restartApiserver } from '../../testbed/lifecycle';
import { pkiPaths } from '../../testbed/pki';
import { readState } from '../../testbed/state';
import { startTestbed, type Testbed } from '../../testbed/testbed';
import { freePorts } from '../../testbed/util';
import { poolStatusReview, type Json } from '../../testbed/fixtures';
import {
  bindPod,
  clientsFor,
  createEndpoint,
  createPool,
  forceDeletePod,
  getPool,
  parseRecords,
  randomSuffix,
  setPodStatus,
  waitFor,
  writePoolStatus,
  type Clients,
  type PoolRecord,
} from './support';

const STALE_SECONDS = 2;
const RECOVERY_LIMIT_MS = 5000;
const NS = 'default';
const POOL = 'outage-pool';
const LIVE = 4;
const ip = (n: number) => `10.77.0.${n}`;

let tb: Testbed;
let admin: Clients;
let creds: Credentials;
let certs: LoopbackCerts;
let open: GuardProcess;
let closed: GuardProcess;
/** each guard's plain-HTTP listener (/readyz, /metrics) */
const opsPorts: Record<GuardName, number> = { open: 0, closed: 0 };
const live: { name: string; uid: string; ip: string }[] = [];

type GuardName = 'open' | 'closed';
interface Answer {
  sentAt: number;
  at: number;
  guard: GuardName;
  allowed: boolean;
  text: string;
}
interface Readyz {
  at: number;
  guard: GuardName;
  status: number;
  body: { ready?: boolean; caches?: Record<string, { state: string; reason?: string; resourceVersion: string }> };
}

function opsGet(p: string, guard: GuardName = 'open'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port: opsPorts[guard], path: p, timeout: 2000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

async function guardReadyz(guard: GuardName = 'open'): Promise<Readyz> {
  const r = await opsGet('/readyz', guard);
  return { at: Date.now(), guard, status: r.status, body: JSON.parse(r.body) as Readyz['body'] };
}

function postReview(guard: GuardProcess, body: unknown): Promise<{ allowed: boolean; text: string }> {
  const payload = JSON.stringify(body);
  const url = new URL(`${guard.url}/validate/spiderippools`);
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host: url.hostname,
        port: url.port,
        path: url.pathname,
        method: 'POST',
        ca: certs.ca,
        ...guard.caller,
        agent: false,
        timeout: 15_000,
        headers: { 'content-type': 'application/json' },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => {
          const r = (
            JSON.parse(text) as { response: { allowed: boolean; warnings?: string[]; status?: { message?: string } } }
          ).response;
          resolve({ allowed: r.allowed, text: [...(r.warnings ?? []), r.status?.message ?? ''].join(' ') });
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(payload);
  });
}

async function apiserverReady(): Promise<boolean> {
  try {
    return (await kubeRequest(tb.apiserverUrl, creds, 'GET', '/readyz')).status === 200;
  } catch {
    return false;
  }
}

async function createLivePod(name: string, n: number): Promise<{ name: string; uid: string; ip: string }> {
  const pod = await admin.core.createNamespacedPod({
    namespace: NS,
    body: { metadata: { name }, spec: { containers: [{ name: 'main', image: 'registry.k8s.io/pause:3.10' }] } },
  });
  await bindPod(admin.core, NS, name, 'node-1');
  await setPodStatus(admin.core, NS, name, { phase: 'Running', podIPs: [ip(n)] });
  return { name, uid: pod.metadata!.uid!, ip: ip(n) };
}

async function setRecord(address: string, record: PoolRecord | undefined): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    const base = await getPool(admin.custom, POOL);
    const recs = parseRecords(base);
    if (record) recs[address] = record;
    else delete recs[address];
    try {
      await writePoolStatus(admin.custom, POOL, recs, { base });
      return;
    } catch (err) {
      if (attempt > 5) throw err;
    }
  }
}

/** Load while a scenario runs: reviews to both guards, /readyz polls, and pod/record/endpoint churn. */
function startLoad(): { stop(): Promise<{ answers: Answer[]; readyz: Readyz[]; churned: number }> } {
  let running = true;
  const answers: Answer[] = [];
  const readyz: Readyz[] = [];
  let churned = 0;
  // One review to each guard every 200 ms, not waiting for earlier answers: a review stuck on a fresh read to the
  // vanished API server must not hold back the ones that follow.
  const inFlight: Promise<void>[] = [];
  const reviewLoop = async () => {
    const pool = await getPool(admin.custom, POOL);
    const next = JSON.parse(JSON.stringify(pool)) as typeof pool;
    const recs = parseRecords(pool);
    delete recs[live[0].ip];
    next.status = { ...next.status, allocatedIPs: JSON.stringify(recs), allocatedIPCount: Object.keys(recs).length };
    const review = poolStatusReview(pool as unknown as Json, next as unknown as Json);
    while (running) {
      for (const g of ['open', 'closed'] as const) {
        const sentAt = Date.now();
        inFlight.push(
          postReview(g === 'open' ? open : closed, review).then(
            (r) => void answers.push({ sentAt, at: Date.now(), guard: g, ...r }),
            () => undefined, // unanswered: a gap, the assertions look at what was answered
          ),
        );
      }
      await sleep(200);
    }
    await Promise.all(inFlight);
  };
  const readyzLoop = async (guard: GuardName) => {
    while (running) {
      try {
        readyz.push(await guardReadyz(guard));
      } catch {
        /* counted as a gap */
      }
      await sleep(250);
    }
  };
  const churnLoop = async () => {
    for (let i = 0; running; i++) {
      const name = `churn-${i}`;
      const address = ip(100 + (i % 100));
      try {
        const p = await createLivePod(name, 100 + (i % 100));
        await setRecord(address, { pod: `${NS}/${name}`, podUid: p.uid });
        await createEndpoint(admin.custom, NS, {
          name,
          uid: p.uid,
          ips: [{ interface: 'eth0', ipv4: `${address}/24`, ipv4Pool: POOL }],
          finalizers: [],
        });
        // the pod goes away the orderly way: pod deleted, its IP released, its endpoint removed
        await forceDeletePod(admin.core, NS, name);
        await setRecord(address, undefined);
        await admin.custom.deleteNamespacedCustomObject({
          group: 'spiderpool.spidernet.io',
          version: 'v2beta1',
          plural: 'spiderendpoints',
          namespace: NS,
          name,
        });
        churned++;
      } catch {
        await sleep(200); // the API server is away: try the next one
      }
    }
  };
  const loops = [reviewLoop(), readyzLoop('open'), readyzLoop('closed'), churnLoop()];
  return {
    stop: async () => {
      running = false;
      await Promise.all(loops);
      return { answers, readyz, churned };
    },
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Creates a pod and a SpiderEndpoint the moment the API server is ready; ms until the guard's caches hold both. */
async function timeToCurrent(tag: string, readyAt: number): Promise<{ pods: number; endpoints: number }> {
  const name = `marker-${tag}`;
  const pod = await waitFor(
    `create ${name}`,
    async () =>
      admin.core
        .createNamespacedPod({
          namespace: NS,
          body: { metadata: { name }, spec: { containers: [{ name: 'main', image: 'registry.k8s.io/pause:3.10' }] } },
        })
        .catch(() => undefined),
    20_000,
    50,
  );
  const ep = await waitFor(
    `create endpoint ${name}`,
    async () =>
      createEndpoint(admin.custom, NS, {
        name,
        uid: pod.metadata!.uid!,
        ips: [{ interface: 'eth0', ipv4: `${ip(250)}/24`, ipv4Pool: POOL }],
        finalizers: [],
      }).catch(() => undefined),
    20_000,
    50,
  );
  const has = (resource: string, rv: string) => async () => {
    const r = await guardReadyz().catch(() => undefined);
    const cached = r?.body.caches?.[resource]?.resourceVersion;
    return cached !== undefined && cached !== '' && BigInt(cached) >= BigInt(rv) ? Date.now() : undefined;
  };
  const [podAt, epAt] = await Promise.all([
    waitFor(`guard cache holds pod ${name}`, has('pods', pod.metadata!.resourceVersion!), 30_000, 25),
    waitFor(`guard cache holds endpoint ${name}`, has('spiderendpoints', ep.metadata!.resourceVersion!), 30_000, 25),
  ]);
  return { pods: podAt - readyAt, endpoints: epAt - readyAt };
}

async function expectLiveIntact(): Promise<void> {
  const recs = parseRecords(await getPool(admin.custom, POOL));
  for (const p of live) {
    expect(recs[p.ip]).toEqual({ pod: `${NS}/${p.name}`, podUid: p.uid });
    const ep = (await admin.custom.getNamespacedCustomObject({
      group: 'spiderpool.spidernet.io',
      version: 'v2beta1',
      plural: 'spiderendpoints',
      namespace: NS,
      name: p.name,
    })) as { status: { current: { uid: string } } };
    expect(ep.status.current.uid).toBe(p.uid);
  }
}

/** A guard's /readyz answers in a window, as "+ms status [stale or unsynced caches]" relative to `zero`. */
function readyzAround(
  load: { readyz: Readyz[] },
  guard: GuardName,
  fromMs: number,
  toMs: number,
  zero: number,
): string {
  return load.readyz
    .filter((r) => r.guard === guard && r.at >= fromMs && r.at <= toMs)
    .map((r) => {
      const notSynced = Object.entries(r.body.caches ?? {})
        .filter(([, c]) => c.state !== 'synced')
        .map(([n, c]) => `${n}:${c.state}`);
      return `${r.at - zero >= 0 ? '+' : ''}${r.at - zero} ${r.status}${notSynced.length ? ` [${notSynced.join(' ')}]` : ''}`;
    })
    .join(', ');
}

/** The guard's own log lines (warnings, cache and probe changes) in a window, times relative to `zero`. */
function guardLogAround(guard: GuardProcess, fromMs: number, toMs: number, zero: number): string[] {
  const out: string[] = [];
  for (const line of guard.lines) {
    let l: { time?: number; level?: number; msg?: string; [k: string]: unknown };
    try {
      l = JSON.parse(line) as typeof l;
    } catch {
      continue;
    }
    if (l.time === undefined || l.time < fromMs || l.time > toMs || l.audit === true) continue;
    const { time, level, msg, pid, hostname, ...rest } = l;
    void pid;
    void hostname;
    out.push(`    ${time - zero >= 0 ? '+' : ''}${time - zero} [${level}] ${msg} ${JSON.stringify(rest)}`);
  }
  return out.length > 30 ? [...out.slice(0, 15), `    ... ${out.length - 30} lines ...`, ...out.slice(-15)] : out;
}

/** One guard's outage as its own /readyz told it: first and last 503, and the first 200 after the last 503. */
interface GuardOutage {
  staleFrom: number;
  staleTo: number;
  backAt: number;
}

function outageOf(load: { readyz: Readyz[] }, g: GuardName, from: number, to: number): GuardOutage {
  const mine = load.readyz.filter((r) => r.guard === g && r.at >= from);
  const stale = mine.filter((r) => r.status === 503 && r.at <= to + 30_000);
  expect(stale.length).toBeGreaterThan(0);
  const staleTo = stale.at(-1)!.at;
  const back = mine.find((r) => r.at > staleTo && r.status === 200);
  expect(back).toBeDefined();
  return { staleFrom: stale[0].at, staleTo, backAt: back!.at };
}

/** How long a /readyz poll and an answer may lag each other on their way to the test (both are read client-side). */
const SAMPLE_SLACK_MS = 100;

/**
 * The common assertions of both scenarios, given what the load saw between `from` and `to` (the API server's /readyz
 * 200 again). Each guard is judged by its own /readyz: the two recover on their own (own probe, own relist), under
 * load up to a few hundred ms apart, and judging the fail-closed guard by the fail-open guard's /readyz took its
 * honest "caches stale" answers in that gap for failures (issue #24). An answer that breaks the expectations is
 * printed with its timing relative to `to` and to its guard's /readyz, with both guards' /readyz and the answering
 * guard's log around it.
 */
function expectOutageHandled(
  kind: string,
  load: { answers: Answer[]; readyz: Readyz[]; churned: number },
  from: number,
  to: number,
): void {
  const stale = load.readyz.filter((r) => r.at >= from && r.at <= to && r.status === 503);
  const reasons = stale.flatMap((r) => Object.values(r.body.caches ?? {}).map((c) => c.reason ?? ''));
  expect(reasons.some((x) => x.startsWith('stale-cache'))).toBe(true);
  for (const g of ['open', 'closed'] as const)
    expect(load.readyz.filter((r) => r.guard === g && r.at > to).at(-1)?.status).toBe(200);
  const outage = { open: outageOf(load, 'open', from, to), closed: outageOf(load, 'closed', from, to) };
  // every review a guard answered while its /readyz said stale (sent then, or answered a poll later): fail-open (or
  // fail-closed) naming the cause, also when its decision began before and waited on a fresh read that then failed
  const whileStale = load.answers.filter((a) => {
    const o = outage[a.guard];
    return a.at <= o.staleTo && (a.sentAt >= o.staleFrom || a.at >= o.staleFrom + SAMPLE_SLACK_MS);
  });
  expect(whileStale.length).toBeGreaterThan(0);
  // once its /readyz is 200 again, the same review is denied again on the cache's evidence (a live pod holds the IP)
  const after = load.answers.filter((a) => a.sentAt > outage[a.guard].backAt);
  expect(after.filter((a) => a.guard === 'open').length).toBeGreaterThan(0);
  expect(after.filter((a) => a.guard === 'closed').length).toBeGreaterThan(0);
  const offenders = [
    ...whileStale
      .filter((a) => !/caches stale/.test(a.text) || a.allowed !== (a.guard === 'open'))
      .map((a) => ({ a, expected: 'fail-open/closed naming stale caches' })),
    ...after
      .filter((a) => a.allowed || /caches stale/.test(a.text))
      .map((a) => ({ a, expected: 'denied on the cache' })),
  ];
  const report = offenders.map(({ a, expected }) =>
    [
      `${kind}: ${a.guard} guard, review sent ${a.sentAt - to} ms after the API server's /readyz 200 (that guard's /readyz: 503 from ${outage[a.guard].staleFrom - to}, ` +
        `200 again at ${outage[a.guard].backAt - to}), answered ${a.at - a.sentAt} ms later: allowed=${a.allowed} "${a.text}"; expected ${expected}`,
      `  /readyz of the open guard (ms from the API server's 200): ${readyzAround(load, 'open', a.sentAt - 3000, a.at + 1000, to)}`,
      `  /readyz of the closed guard: ${readyzAround(load, 'closed', a.sentAt - 3000, a.at + 1000, to)}`,
      `  log of the ${a.guard} guard:`,
      ...guardLogAround(a.guard === 'open' ? open : closed, a.sentAt - 5000, a.at + 500, to),
    ].join('\n'),
  );
  if (report.length > 0) process.stderr.write(`[outage] offending answers:\n${report.slice(0, 5).join('\n')}\n`);
  expect(report).toEqual([]);
  // pods and records kept churning through the API server, which called the guard with its client certificate
  expect(load.churned).toBeGreaterThan(0);
  const o = outage.open;
  process.stderr.write(
    `[outage] ${kind}: /readyz 503 for ${((o.staleTo - o.staleFrom) / 1000).toFixed(1)} s, ${whileStale.length} reviews answered stale-cache, ${load.churned} pods churned; ` +
      `/readyz 200 again: open guard ${outage.open.backAt - to} ms, closed guard ${outage.closed.backAt - to} ms after the API server's\n`,
  );
}

beforeAll(async () => {
  tb = await startTestbed({ name: `outage-${randomSuffix()}`, nodes: 1, showProgress: false });
  const pki = pkiPaths(path.join(tb.stateDir!, 'pki'));
  creds = { ca: fs.readFileSync(pki.caCert), cert: fs.readFileSync(pki.adminCert), key: fs.readFileSync(pki.adminKey) };
  admin = clientsFor(tb.kubeConfig());
  await createPool(admin.custom, { name: POOL, subnet: '10.77.0.0/16', ips: ['10.77.0.1-10.77.0.254'] });
  for (let i = 0; i < LIVE; i++) live.push(await createLivePod(`live-${i}`, 10 + i));
  for (const p of live) await setRecord(p.ip, { pod: `${NS}/${p.name}`, podUid: p.uid });
  for (const p of live) {
    await createEndpoint(admin.custom, NS, {
      name: p.name,
      uid: p.uid,
      ips: [{ interface: 'eth0', ipv4: `${p.ip}/24`, ipv4Pool: POOL }],
      ownerReferences: [{ apiVersion: 'v1', kind: 'Pod', name: p.name, uid: p.uid }],
    });
  }
  certs = await loopbackCerts();
  [opsPorts.open, opsPorts.closed] = await freePorts(2);
  const common = ['--cache-stale-seconds', String(STALE_SECONDS)];
  [open, closed] = await Promise.all([
    startGuard({
      kubeconfigPath: tb.kubeconfigPath,
      certs,
      noReconcile: false,
      args: [
        ...common,
        '--metrics-port',
        String(opsPorts.open),
        '--leader-election-namespace',
        NS,
        '--settle-seconds',
        '2',
        '--reconcile-interval',
        '5',
      ],
    }),
    startGuard({
      kubeconfigPath: tb.kubeconfigPath,
      certs,
      args: [...common, '--metrics-port', String(opsPorts.closed), '--fail-closed'],
    }),
  ]);
  // the fail-open guard also judges the churn's writes (the API server presents its webhook client certificate)
  await registerWebhooks(tb.kubeConfig(), { baseUrl: open.url, caBundle: certs.ca, name: 'outage' });
}, 300_000);

afterAll(async () => {
  await Promise.all([open?.stop(), closed?.stop()]);
  await tb?.stop();
});

test('API server frozen (SIGSTOP) for 30 s: stale-cache while frozen, caches current within 5 s of its return, nothing live lost', async () => {
  const load = startLoad();
  await sleep(3000);
  const pid = readState(tb.stateDir!)!.pids.kubeApiserver!;
  const frozenAt = Date.now();
  process.kill(pid, 'SIGSTOP');
  try {
    await sleep(30_000);
  } finally {
    process.kill(pid, 'SIGCONT');
  }
  const resumedAt = Date.now();
  await waitFor('API server /readyz 200', apiserverReady, 60_000, 50);
  const readyAt = Date.now();
  const recovery = await timeToCurrent('sigstop', readyAt);
  await waitFor('guard /readyz 200', async () => (await guardReadyz()).status === 200, 30_000, 100);
  await sleep(3000);
  const seen = await load.stop();
  process.stderr.write(
    `[outage] SIGSTOP: API server ready ${readyAt - resumedAt} ms after SIGCONT; guard cache current ${recovery.pods} ms (pods), ${recovery.endpoints} ms (spiderendpoints) after the API server's /readyz 200\n`,
  );
  expectOutageHandled('SIGSTOP', seen, frozenAt, readyAt);
  expect(Math.max(recovery.pods, recovery.endpoints)).toBeLessThanOrEqual(RECOVERY_LIMIT_MS);
  const metrics = (await opsGet('/metrics')).body;
  expect(metrics).toMatch(/spiderpool_guard_admission_errors_total\{webhook="validate",cause="stale-cache"\} [1-9]/);
  expect(metrics).toMatch(/spiderpool_guard_cache_synced\{resource="pods"\} 1/);
  await expectLiveIntact();
}, 150_000);

test('API server killed (SIGKILL) and restarted: stale-cache while down, caches current within 5 s of its /readyz 200, nothing live lost', async () => {
  const load = startLoad();
  await sleep(3000);
  const killedAt = Date.now();
  // held down past the staleness threshold (and the probe's detection), as a real restart is: seconds, not instant
  await restartApiserver(tb.stateDir!, 30_000, (2 * STALE_SECONDS + 1) * 1000);
  await waitFor('API server /readyz 200 after restart', apiserverReady, 120_000, 50);
  const readyAt = Date.now();
  const recovery = await timeToCurrent('sigkill', readyAt);
  await waitFor('guard /readyz 200', async () => (await guardReadyz()).status === 200, 30_000, 100);
  await sleep(3000);
  const seen = await load.stop();
  process.stderr.write(
    `[outage] SIGKILL: API server down ${readyAt - killedAt} ms; guard cache current ${recovery.pods} ms (pods), ${recovery.endpoints} ms (spiderendpoints) after the API server's /readyz 200\n`,
  );
  expectOutageHandled('SIGKILL', seen, killedAt, readyAt);
  expect(Math.max(recovery.pods, recovery.endpoints)).toBeLessThanOrEqual(RECOVERY_LIMIT_MS);
  await expectLiveIntact();
}, 150_000);

test('the webhook port refuses a caller without a client certificate (TLS failure, no HTTP answer)', async () => {
  const outcome = await new Promise<string>((resolve) => {
    const req = https.request(
      { host: '127.0.0.1', port: open.port, path: '/readyz', ca: certs.ca, agent: false, timeout: 5000 },
      (res) => resolve(`HTTP ${res.statusCode}`),
    );
    req.on('error', (err) => resolve(`error: ${err.message}`));
    req.end();
  });
  expect(outcome).toMatch(/^error: /);
});
