/**
 * `npm run -s bench -- stress [--pods N] [--seconds S] [--json] [--allocator image|glibc]`
 *
 * Issue #9 items 1-2 under stress, against `serve` on the real test bed, run as the chart runs it (memory limit
 * 512Mi: NODE_OPTIONS=--max-old-space-size=317, --max-inflight-mib=52, audit file on) under the image's native
 * allocator (jemalloc; `--allocator glibc`: Node's own, bench/allocator.ts):
 *   1. bursts: 16,384-record reviews at concurrency 32; 65,536-record releases (every record of live pods, at
 *      concurrency 16); 16 MiB bodies (concurrency 16). During each: the guard's peak RSS (sampled every 50 ms),
 *      the answers by status (200 / 429 / other), and the latency of a legitimate 256-record review sent one
 *      after another throughout, from a process of its own (stress-prober.ts), alternately on a new connection and
 *      on a kept-alive one;
 *   2. one hostile review (340 KB: a 256 KiB uid, 200 malformed keys): audit bytes written (file and stdout);
 *   3. one 65,536-record release alone: response size, message lines and time.
 *
 * `--against DIR [--rounds N]`: before and after a change, in one run. DIR is another checkout of the guard, built
 * there (`npm run build`); its guard runs beside this checkout's on the same test bed, and the 16,384-record c=32
 * burst (the probe's latency) and the 65,536-record c=16 burst (peak RSS) alternate between the two in ABBA order,
 * N rounds (default 2: each guard gets 4 bursts of each kind). Prints both sides' figures per burst, their medians
 * and ranges, and the machine's load averages before and after.
 */
import * as fs from 'node:fs';
import * as https from 'node:https';
import * as os from 'node:os';
import * as path from 'node:path';
import { GuardProcess, loopbackCerts, startGuard } from '../testbed/guard';
import { allocatorChoice, allocatorEnv, checkGuardAllocator } from './allocator';
import { startTestbed } from '../testbed/testbed';
import { GC_USER, PoolSpecFixture, podRef, poolIp, poolObject, reviewBodies } from './admission/fixtures';
import { populate } from './admission/populate';
import { post } from './https-post';
import { Prober, type ProbeSeries } from './stress-prober';

const LIMIT_MIB = 512;
const HEAP_MIB = 317;
const INFLIGHT_MIB = 52;

const say = (s: string) => process.stderr.write(`[stress] ${s}\n`);
const flag = (argv: string[], name: string) => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
};

function rssMb(pid: number): number {
  const kb = Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
  return kb / 1024;
}

/** A review releasing every record of an n-record pool whose records name the test bed's (live) pods. */
function massRelease(n: number, pods: number, uids: string[]): Buffer {
  const p: PoolSpecFixture = { name: `stress-${n}`, index: 9, records: n };
  const records: Record<string, { pod: string; podUid: string }> = {};
  for (let i = 0; i < n; i++) {
    const ref = podRef(i % pods);
    records[poolIp(p.index, i)] = { pod: `${ref.namespace}/${ref.name}`, podUid: uids[i % pods] };
  }
  return reviewOf(`mass-${n}`, poolObject(p, {}, '1001'), poolObject(p, records));
}

function reviewOf(uid: string, object: unknown, oldObject: unknown, name = 'stress'): Buffer {
  return Buffer.from(
    JSON.stringify({
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      request: {
        uid,
        resource: { group: 'spiderpool.spidernet.io', version: 'v2beta1', resource: 'spiderippools' },
        subResource: 'status',
        name,
        operation: 'UPDATE',
        userInfo: { username: GC_USER, groups: ['system:serviceaccounts'] },
        object,
        oldObject,
      },
    }),
  );
}

/** A 16 MiB-class body: a pool status update whose object carries a large annotation (just under the body limit). */
function bigBody(bytes: number): Buffer {
  const p: PoolSpecFixture = { name: 'stress-big', index: 8, records: 1 };
  const old = poolObject(p, {});
  const obj = poolObject(p, {}, '1001') as { metadata: Record<string, unknown> };
  obj.metadata.annotations = { pad: 'x'.repeat(bytes - 2000) };
  return reviewOf('big', obj, old);
}

/** The hostile review of the issue: a 256 KiB uid and 200 malformed keys, about 340 KB. */
function hostile(): Buffer {
  const uid = 'h'.repeat(256 * 1024);
  const p: PoolSpecFixture = { name: 'stress-hostile', index: 7, records: 1 };
  const old = poolObject(p, { [poolIp(7, 0)]: { pod: 'bench-0/app-0', podUid: 'x' } });
  const keys: Record<string, unknown> = {};
  for (let i = 0; i < 200; i++)
    keys[`bad-key-${i}-${'k'.repeat(300)}`] = { pod: `bench-0/${'p'.repeat(100)}`, podUid: 'u'.repeat(100) };
  const obj = poolObject(p, {}, '1001') as { status: Record<string, unknown> };
  obj.status.allocatedIPs = JSON.stringify(keys);
  const doc = JSON.parse(reviewOf('x', obj, old).toString()) as { request: Record<string, unknown> };
  doc.request.uid = uid;
  return Buffer.from(JSON.stringify(doc));
}

interface BurstResult {
  name: string;
  requests: number;
  statuses: Record<string, number>;
  peakRssMb: number;
  peakRssPercentOfLimit: number;
  /** the probes on a new connection each */
  legit: ProbeSummary;
  /** the probes on one kept-alive connection (as the API server calls a webhook) */
  legitKeptAlive: ProbeSummary;
}

interface ProbeSummary {
  count: number;
  statuses: Record<string, number>;
  p50Ms: number;
  maxMs: number;
  latencies: number[];
}

function summary(series: ProbeSeries): ProbeSummary {
  const ms = [...series.latencies].sort((a, b) => a - b);
  return {
    count: ms.length,
    statuses: series.statuses,
    p50Ms: Math.round(ms[Math.floor(ms.length / 2)] ?? NaN),
    maxMs: Math.round(ms.at(-1) ?? NaN),
    latencies: ms,
  };
}

async function burst(
  name: string,
  url: string,
  ca: string,
  body: Buffer,
  prober: Prober,
  concurrency: number,
  seconds: number,
  pid: number,
): Promise<BurstResult> {
  let peak = rssMb(pid);
  const sampler = setInterval(() => (peak = Math.max(peak, rssMb(pid))), 50);
  const agent = new https.Agent({ keepAlive: true, maxSockets: concurrency });
  const statuses: Record<string, number> = {};
  const until = Date.now() + seconds * 1000;
  const worker = async () => {
    while (Date.now() < until) {
      const a = await post(url, ca, body, agent);
      statuses[a.status] = (statuses[a.status] ?? 0) + 1;
    }
  };
  const probing = new Promise((r) => setTimeout(r, 300)).then(() => prober.probe(seconds - 0.3)); // let the burst build up
  const [probed] = await Promise.all([probing, ...Array.from({ length: concurrency }, worker)]);
  clearInterval(sampler);
  agent.destroy();
  const r: BurstResult = {
    name,
    requests: Object.values(statuses).reduce((a, b) => a + b, 0),
    statuses,
    peakRssMb: Math.round(peak),
    peakRssPercentOfLimit: Math.round((peak / LIMIT_MIB) * 100),
    legit: summary(probed),
    legitKeptAlive: summary(probed.keptAlive),
  };
  say(
    `${name}: ${r.requests} requests ${JSON.stringify(statuses)}; peak RSS ${r.peakRssMb} MB (${r.peakRssPercentOfLimit}% of ${LIMIT_MIB} Mi); legit 256-record review, new connection x${r.legit.count} ${JSON.stringify(r.legit.statuses)} p50 ${r.legit.p50Ms} ms max ${r.legit.maxMs} ms; kept-alive x${r.legitKeptAlive.count} ${JSON.stringify(r.legitKeptAlive.statuses)} p50 ${r.legitKeptAlive.p50Ms} ms max ${r.legitKeptAlive.maxMs} ms`,
  );
  await new Promise((res) => setTimeout(res, 2000)); // let the heap settle between bursts
  return r;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const spread = (xs: number[]) =>
  `${Math.round(median(xs))} (${Math.round(Math.min(...xs))}–${Math.round(Math.max(...xs))})`;

interface Comparison {
  ca: string;
  dir: string;
  before: GuardProcess;
  after: GuardProcess;
  legit: Buffer;
  r16k: Buffer;
  r64k: Buffer;
  seconds: number;
  rounds: number;
  json: boolean;
}

/** `--against`: the same bursts against two builds, alternating ABBA, and each side's medians with their ranges. */
async function beforeAndAfter(c: Comparison): Promise<number> {
  const loadBefore = os.loadavg();
  const sides = { before: c.before, after: c.after };
  const validate = (g: GuardProcess) => `${g.url}/validate/spiderippools?timeout=5s`;
  const probers = {
    before: await Prober.start(validate(c.before), c.ca, c.legit, c.dir),
    after: await Prober.start(validate(c.after), c.ca, c.legit, c.dir),
  };
  const runs: { side: 'before' | 'after'; burst: BurstResult }[] = [];
  const order = Array.from({ length: c.rounds }, () => ['before', 'after', 'after', 'before'] as const).flat();
  for (const side of order) {
    const g = sides[side];
    say(`${side} (pid ${g.proc.pid})`);
    runs.push({
      side,
      burst: await burst(
        `${side}: 16,384-record reviews, c=32`,
        validate(g),
        c.ca,
        c.r16k,
        probers[side],
        32,
        c.seconds,
        g.proc.pid!,
      ),
    });
    runs.push({
      side,
      burst: await burst(
        `${side}: 65,536-record releases, c=16`,
        validate(g),
        c.ca,
        c.r64k,
        probers[side],
        16,
        c.seconds,
        g.proc.pid!,
      ),
    });
  }
  probers.before.stop();
  probers.after.stop();
  const loadAfter = os.loadavg();
  const rows = (['16,384-record reviews, c=32', '65,536-record releases, c=16'] as const).flatMap((kind) =>
    (['before', 'after'] as const).flatMap((side) =>
      (['new', 'kept-alive'] as const).map((connection) => {
        const bs = runs.filter((r) => r.side === side && r.burst.name.endsWith(kind)).map((r) => r.burst);
        const probes = bs.map((b) => (connection === 'new' ? b.legit : b.legitKeptAlive));
        const statuses: Record<string, number> = {};
        for (const p of probes) for (const [k, v] of Object.entries(p.statuses)) statuses[k] = (statuses[k] ?? 0) + v;
        return {
          kind,
          side,
          connection,
          bursts: bs.length,
          probes: probes.reduce((n, p) => n + p.count, 0),
          probeStatuses: statuses,
          probeP50Ms: probes.map((p) => p.p50Ms),
          probeMaxMs: probes.map((p) => p.maxMs),
          probeAllMs: probes.flatMap((p) => p.latencies).sort((a, b) => a - b),
          peakRssPercent: bs.map((b) => b.peakRssPercentOfLimit),
          answers: bs.map((b) => b.statuses),
        };
      }),
    ),
  );
  const load = (l: number[]) => l.map((x) => x.toFixed(2)).join(', ');
  if (c.json)
    process.stdout.write(
      JSON.stringify({
        limitMiB: LIMIT_MIB,
        heapMiB: HEAP_MIB,
        inflightMiB: INFLIGHT_MIB,
        loadBefore,
        loadAfter,
        rows,
        runs,
      }) + '\n',
    );
  else
    process.stdout.write(
      [
        `before and after, ABBA x ${c.rounds} (${order.length / 2} bursts of each kind per build, ${c.seconds} s each); load average ${load(loadBefore)} before, ${load(loadAfter)} after`,
        '',
        '| burst | build | burst answers | probe connection | probes | probe answers | probe p50 ms, median (min–max) over bursts | probe max ms, median (min–max) | all probes p50 / p90 / max ms | peak RSS % of limit, median (min–max) |',
        '|---|---|---|---|---|---|---|---|---|---|',
        ...rows.map((r) => {
          const q = (f: number) => r.probeAllMs[Math.min(r.probeAllMs.length - 1, Math.floor(f * r.probeAllMs.length))];
          const answers: Record<string, number> = {};
          for (const a of r.answers) for (const [k, v] of Object.entries(a)) answers[k] = (answers[k] ?? 0) + v;
          return `| ${r.kind} | ${r.side} | ${r.bursts}: ${JSON.stringify(answers)} | ${r.connection} | ${r.probes} | ${JSON.stringify(r.probeStatuses)} | ${spread(r.probeP50Ms)} | ${spread(r.probeMaxMs)} | ${q(0.5)} / ${q(0.9)} / ${r.probeAllMs.at(-1)} | ${spread(r.peakRssPercent)} |`;
        }),
        '',
      ].join('\n'),
    );
  return 0;
}

export async function runStressBench(argv: string[]): Promise<number> {
  const json = argv.includes('--json');
  const pods = Number(flag(argv, '--pods') ?? 2000);
  const seconds = Number(flag(argv, '--seconds') ?? 8);
  const t0 = Date.now();
  const tb = await startTestbed({ name: 'bench-stress', showProgress: false });
  let stopGuard = async () => {};
  try {
    const kc = tb.kubeConfig();
    const small: PoolSpecFixture = { name: 'stress-256', index: 1, records: 256 };
    say(`test bed up; ${pods} pods, their endpoints and a 256-record pool`);
    const uids = await populate(kc, tb.kubeconfigPath, [small], pods, say);
    const certs = await loopbackCerts();
    const auditFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'spg-stress-')), 'audit.jsonl');
    process.env.NODE_OPTIONS = `--max-old-space-size=${HEAP_MIB}`;
    const allocator = allocatorChoice(flag(argv, '--allocator'));
    // the bench's clients present no certificate: the guard runs without client verification (--client-ca-file)
    const startAs = (cliEntry?: string) =>
      startGuard({
        kubeconfigPath: tb.kubeconfigPath,
        certs,
        clientCaFile: false,
        cliEntry,
        args: ['--max-inflight-mib', String(INFLIGHT_MIB), '--audit-log', auditFile],
        env: allocatorEnv(allocator),
      });
    const guard = await startAs();
    stopGuard = guard.stop;
    say(`guard allocator: ${await checkGuardAllocator(guard, allocator)}`);
    const against = flag(argv, '--against');
    const other = against
      ? await startAs(path.join(path.resolve(against), 'dist', 'webhook', 'cli', 'main.js'))
      : undefined;
    if (other) stopGuard = async () => void (await Promise.all([guard.stop(), other.stop()]));
    delete process.env.NODE_OPTIONS;
    const pid = guard.proc.pid!;
    await new Promise((r) => setTimeout(r, 2000));
    const idleRss = Math.round(rssMb(pid));
    say(`guard ready; RSS ${idleRss} MB with the caches loaded`);
    const validate = `${guard.url}/validate/spiderippools?timeout=5s`;
    const legit = Buffer.from(reviewBodies(small, pods, (i) => uids[i]).release);
    const r16k = Buffer.from(
      reviewBodies({ name: 'stress-16384', index: 2, records: 16384 }, pods, (i) => uids[i]).release,
    );
    const r64k = massRelease(65536, pods, uids);
    const b16m = bigBody(16 * 1024 * 1024 - 4096);
    say(
      `bodies: 256-record ${Math.round(legit.length / 1024)} KiB, 16,384-record ${(r16k.length / 1e6).toFixed(1)} MB, 65,536-record release ${(r64k.length / 1e6).toFixed(1)} MB, big ${(b16m.length / 1e6).toFixed(1)} MB`,
    );
    if (other)
      return await beforeAndAfter({
        before: other,
        after: guard,
        ca: certs.ca,
        dir: path.dirname(auditFile),
        legit,
        r16k,
        r64k,
        seconds,
        rounds: Number(flag(argv, '--rounds') ?? 2),
        json,
      });

    // 3. one 65,536-record release alone
    const single = await post(validate, certs.ca, r64k, false, true);
    const resp = JSON.parse(single.body ?? '{}') as { response?: { allowed: boolean; status?: { message: string } } };
    const release = {
      status: single.status,
      ms: Math.round(single.ms),
      responseBytes: single.bytes,
      allowed: resp.response?.allowed,
      messageLines: resp.response?.status?.message.split('\n').length ?? 0,
    };
    say(
      `65,536-record release alone: HTTP ${release.status} in ${release.ms} ms, response ${release.responseBytes} bytes, ${release.messageLines} message lines, allowed ${release.allowed}`,
    );

    // 2. hostile review: audit bytes
    await new Promise((r) => setTimeout(r, 500)); // the previous request's audit lines are written
    const fileBefore = fs.existsSync(auditFile) ? fs.statSync(auditFile).size : 0;
    const linesBefore = guard.lines.length;
    const h = hostile();
    const hostileAnswer = await post(validate, certs.ca, h, false);
    await new Promise((r) => setTimeout(r, 1000));
    const fileBytes = fs.statSync(auditFile).size - fileBefore;
    const stdoutAudit = guard.lines.slice(linesBefore).filter((l) => l.includes('"audit":true'));
    const stdoutBytes = stdoutAudit.reduce((n, l) => n + Buffer.byteLength(l) + 1, 0);
    const hostileResult = {
      requestBytes: h.length,
      status: hostileAnswer.status,
      auditFileBytes: fileBytes,
      auditStdoutBytes: stdoutBytes,
      auditLines: stdoutAudit.length,
    };
    say(
      `hostile review (${h.length} bytes): HTTP ${hostileAnswer.status}; audit ${fileBytes} bytes in the file + ${stdoutBytes} on stdout (${stdoutAudit.length} lines)`,
    );

    // 1. bursts
    const bursts: BurstResult[] = [];
    const prober = await Prober.start(validate, certs.ca, legit, path.dirname(auditFile));
    bursts.push(await burst('16,384-record reviews, c=32', validate, certs.ca, r16k, prober, 32, seconds, pid));
    bursts.push(await burst('65,536-record releases, c=16', validate, certs.ca, r64k, prober, 16, seconds, pid));
    bursts.push(await burst('16 MiB bodies, c=16', validate, certs.ca, b16m, prober, 16, seconds, pid));
    prober.stop();

    const summary = {
      limitMiB: LIMIT_MIB,
      heapMiB: HEAP_MIB,
      inflightMiB: INFLIGHT_MIB,
      pods,
      idleRssMb: idleRss,
      bursts,
      hostile: hostileResult,
      release65536: release,
      seconds: Math.round((Date.now() - t0) / 1000),
    };
    if (json) process.stdout.write(JSON.stringify(summary) + '\n');
    else {
      process.stdout.write(
        [
          `guard as the chart runs it: limit ${LIMIT_MIB} Mi, heap ${HEAP_MIB} MiB, in-flight ${INFLIGHT_MIB} MiB; ${pods} pods cached; idle RSS ${idleRss} MB`,
          '',
          '| burst | requests | answers | peak RSS MB | % of limit | legit reviews (new connection / kept-alive) | legit answers | legit p50 ms | legit max ms | kept-alive p50 ms | kept-alive max ms |',
          '|---|---|---|---|---|---|---|---|---|---|---|',
          ...bursts.map(
            (b) =>
              `| ${b.name} | ${b.requests} | ${JSON.stringify(b.statuses)} | ${b.peakRssMb} | ${b.peakRssPercentOfLimit} | ${b.legit.count} / ${b.legitKeptAlive.count} | ${JSON.stringify(b.legit.statuses)} / ${JSON.stringify(b.legitKeptAlive.statuses)} | ${b.legit.p50Ms} | ${b.legit.maxMs} | ${b.legitKeptAlive.p50Ms} | ${b.legitKeptAlive.maxMs} |`,
          ),
          '',
          `hostile review ${hostileResult.requestBytes} bytes: audit ${hostileResult.auditFileBytes} bytes (file) + ${hostileResult.auditStdoutBytes} bytes (stdout), ${hostileResult.auditLines} lines`,
          `65,536-record release: HTTP ${release.status}, ${release.responseBytes} response bytes, ${release.messageLines} message lines, ${release.ms} ms`,
          `total ${summary.seconds} s`,
          '',
        ].join('\n'),
      );
    }
    return 0;
  } finally {
    await stopGuard();
    await tb.stop();
  }
}
