/**
 * The chart installed as an operator would: `helm install` with the defaults, on the test bed whose process runner
 * (testbed/runner) runs the chart's image as `node dist/webhook/cli/main.js` of this checkout and the `helm
 * test` image as the local curl. Admission calls travel API server → the chart's Service (EndpointSlice address,
 * --enable-aggregator-routing) → a guard pod, which talks to the API server with its ServiceAccount token only.
 *
 * The tests run in order and share one release. Figures (time to Ready, failed admissions during the rolling
 * upgrade, failover time, 403 count over the whole suite, uninstall time) are printed at the end.
 */
import * as k8s from '@kubernetes/client-node';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as tls from 'node:tls';
import { promisify } from 'node:util';
import * as path from 'node:path';
import {
  AdmissionLoad,
  failedOpenInAudit,
  webhookFailuresInApiserverLog,
  type LoadCounts,
} from '../../testbed/admission-load';
import { ensureHelm } from '../../testbed/binaries';
import { CLI_ENTRY } from '../../testbed/guard';
import { containerLog, containerPid } from '../../testbed/runner/inspect';
import { readState } from '../../testbed/state';
import { runStsScaleDownUp } from '../../testbed/sts-scenario';
import {
  adminClients,
  apiErrorCode,
  clientsFor,
  createEndpoint,
  createPool,
  deletePool,
  getEndpoint,
  kubeconfigPath,
  SPIDERPOOL_AGENT_USER,
  spiderpoolAgentKubeConfig,
  spiderpoolControllerKubeConfig,
  testbed,
  useTestNamespace,
  waitFor,
  writePoolStatus,
} from './support';
import { CHART_DIR } from './support/chart';

const execFileP = promisify(execFile);
const ns = useTestNamespace('install');
const app = useTestNamespace('install-app');
const admin = adminClients();
const agent = clientsFor(spiderpoolAgentKubeConfig());
const gc = clientsFor(spiderpoolControllerKubeConfig());
const RELEASE = 'spiderpool-guard'; // fullname = release name (it contains the chart name)
const SELECTOR = `app.kubernetes.io/instance=${RELEASE}`;
const figures: Record<string, string> = {};
let stateDir = '';
let uninstallStartedAt: number | undefined;

async function helm(...args: string[]): Promise<string> {
  const bin = await ensureHelm();
  try {
    const { stdout } = await execFileP(bin, [...args, '--kubeconfig', kubeconfigPath()], {
      maxBuffer: 16 * 1024 * 1024,
    });
    return stdout;
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    throw new Error(`helm ${args.join(' ')} failed: ${e.stderr ?? ''}${e.stdout ?? ''}${e.message}`, { cause: err });
  }
}

async function guardPods(): Promise<k8s.V1Pod[]> {
  const list = await admin.core.listNamespacedPod({ namespace: ns.name, labelSelector: SELECTOR });
  return list.items.filter((p) => p.metadata?.labels?.['app.kubernetes.io/component'] !== 'helm-test');
}

function isReady(p: k8s.V1Pod): boolean {
  return (
    !p.metadata?.deletionTimestamp &&
    (p.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True')
  );
}

async function readyPods(n: number, what: string, timeoutMs = 90_000): Promise<k8s.V1Pod[]> {
  return waitFor(
    what,
    async () => {
      const pods = await guardPods();
      const ready = pods.filter(isReady);
      return ready.length === n && pods.length === n ? ready : undefined;
    },
    timeoutMs,
    200,
  );
}

function metrics(ip: string): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: ip, port: 9090, path: '/metrics', timeout: 3000 }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve(body));
      })
      .on('error', reject);
  });
}

function metricValue(text: string, name: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
  return line ? Number(line.split(' ').pop()) : NaN;
}

/** The certificate a pod serves, verified against `ca` for the Service's DNS name (what the API server checks). */
function servedCert(ip: string, ca: string): Promise<tls.PeerCertificate> {
  return new Promise((resolve, reject) => {
    const sock = tls.connect({ host: ip, port: 9443, ca, servername: `${RELEASE}.${ns.name}.svc` }, () => {
      const cert = sock.getPeerCertificate();
      sock.end();
      resolve(cert);
    });
    sock.on('error', reject);
  });
}

/**
 * What a rollout looks like from the API server's side, polled every 100 ms: each guard pod (Ready, deleting) and
 * each address of the Service's EndpointSlices (ready/serving/terminating). Only changes are kept, with their time:
 * a webhook call that failed open is read against it (which replica was going away, was its endpoint still ready).
 */
interface RolloutChange {
  at: number;
  key: string;
  state: string;
}

function watchRollout(): { stop(): Promise<RolloutChange[]> } {
  const changes: RolloutChange[] = [];
  const last = new Map<string, string>();
  let running = true;
  const note = (key: string, state: string) => {
    if (last.get(key) === state) return;
    last.set(key, state);
    changes.push({ at: Date.now(), key, state });
  };
  const loop = (async () => {
    const discovery = admin.kc.makeApiClient(k8s.DiscoveryV1Api);
    while (running) {
      try {
        for (const p of await guardPods()) {
          note(
            `pod ${p.metadata!.name} ${p.status?.podIP ?? '-'}`,
            `${isReady(p) ? 'Ready' : 'not Ready'}${p.metadata?.deletionTimestamp ? ', deleting' : ''}`,
          );
        }
        const slices = await discovery.listNamespacedEndpointSlice({
          namespace: ns.name,
          labelSelector: `kubernetes.io/service-name=${RELEASE}`,
        });
        const seen = new Set<string>();
        for (const e of slices.items.flatMap((sl) => sl.endpoints ?? [])) {
          const key = `endpoint ${e.addresses.join(',')} (${e.targetRef?.name ?? '?'})`;
          seen.add(key);
          note(
            key,
            `ready=${e.conditions?.ready} serving=${e.conditions?.serving} terminating=${e.conditions?.terminating}`,
          );
        }
        for (const key of last.keys()) if (key.startsWith('endpoint ') && !seen.has(key)) note(key, 'removed');
      } catch (err) {
        note('poll', `failed: ${(err as Error).message}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return changes;
    },
  };
}

/**
 * For each replica that went away: ms from its pod's deletion (as polled) to its endpoint no longer ready in the
 * EndpointSlice, the moment the API server stops choosing it for new calls.
 */
function endpointLag(changes: RolloutChange[]): number[] {
  const lags: number[] = [];
  for (const c of changes.filter((x) => x.key.startsWith('pod ') && x.state.endsWith('deleting'))) {
    const [, name, ip] = c.key.split(' ');
    const gone = changes.find(
      (x) =>
        x.at >= c.at - 100 &&
        x.key.startsWith(`endpoint ${ip} (${name})`) &&
        (x.state === 'removed' || x.state.startsWith('ready=false')),
    );
    if (gone) lags.push(gone.at - c.at);
  }
  return lags;
}

/**
 * What each replica that stopped in a window says of its drain (admission/drain.ts, 'listener closed'): the calls it
 * answered after SIGTERM (each would have failed open had it closed at once) and those still cut off.
 */
function drainsBetween(fromMs: number, toMs: number): string[] {
  return guardLogsBetween(fromMs, toMs)
    .filter((l) => l.includes('"listener closed"'))
    .map((l) => {
      const m = /answeredWhileDraining":(\d+),"cutOff":(\d+)/.exec(l);
      return m ? `${m[1]} answered, ${m[2]} cut off` : l;
    });
}

/** The lines of every guard container log of this release (old replicas included) between two moments. */
function guardLogsBetween(fromMs: number, toMs: number): string[] {
  const podsDir = path.join(stateDir, 'pods');
  const out: string[] = [];
  for (const dir of fs.readdirSync(podsDir).filter((d) => d.startsWith(`${ns.name}_${RELEASE}-`))) {
    const guardDir = path.join(podsDir, dir, 'guard');
    if (!fs.existsSync(guardDir)) continue;
    for (const file of fs.readdirSync(guardDir)) {
      for (const line of fs.readFileSync(path.join(guardDir, file), 'utf8').split('\n')) {
        const l = (() => {
          try {
            return JSON.parse(line) as { time?: number; level?: number; msg?: string; audit?: boolean };
          } catch {
            return undefined;
          }
        })();
        if (!l?.time || l.time < fromMs || l.time > toMs || l.audit) continue;
        if ((l.level ?? 0) < 40 && !/shutting down|serving|drain|Lease|listener closed/i.test(l.msg ?? '')) continue;
        out.push(`${new Date(l.time).toISOString()} ${dir.split('_')[1]}: ${line.slice(0, 600)}`);
      }
    }
  }
  return out.sort();
}

async function lease(): Promise<k8s.V1Lease> {
  return admin.kc
    .makeApiClient(k8s.CoordinationV1Api)
    .readNamespacedLease({ name: `${RELEASE}-reconciler`, namespace: ns.name });
}

beforeAll(() => {
  if (!fs.existsSync(CLI_ENTRY))
    throw new Error(`${CLI_ENTRY} missing: npm run build first (the runner runs the chart's image as this build)`);
  stateDir = testbed().stateDir ?? '';
  if (!stateDir || !readState(stateDir)?.network)
    throw new Error('this test bed runs no pods: the process runner needs root and iproute2');
});

afterAll(async () => {
  await helm('uninstall', RELEASE, '--namespace', ns.name, '--wait').catch(() => undefined);
  process.stderr.write(
    `\ninstall e2e figures:\n${Object.entries(figures)
      .map(([k, v]) => `  ${k}: ${v}`)
      .join('\n')}\n`,
  );
});

describe('helm install on the test bed, as an operator would', () => {
  test('helm install with defaults: both replicas Ready, one Secret, one CA, caBundle injected into both configurations', async () => {
    const t0 = Date.now();
    const install = helm('install', RELEASE, CHART_DIR, '--namespace', ns.name, '--wait', '--timeout', '3m');
    // a failing `helm install` ends the wait at once (its error is the test's)
    const ready = await Promise.race([
      readyPods(2, 'both replicas Ready', 100_000),
      install.then(() => new Promise<never>(() => {})),
    ]);
    figures['helm install → both replicas Ready'] = `${((Date.now() - t0) / 1000).toFixed(1)} s`;
    await install;
    expect(ready.every((p) => p.spec?.nodeName === 'runner')).toBe(true);
    expect(new Set(ready.map((p) => p.status?.podIP)).size).toBe(2);

    const secrets = (await admin.core.listNamespacedSecret({ namespace: ns.name })).items.filter(
      (s) => s.type !== 'helm.sh/release.v1',
    );
    expect(secrets.map((s) => s.metadata?.name)).toEqual([`${RELEASE}-tls`]);
    const ca = Buffer.from(secrets[0].data?.['ca.crt'] ?? '', 'base64').toString();
    expect(ca).toContain('BEGIN CERTIFICATE');
    // both replicas serve the same certificate, and it verifies against that one CA for the Service's name
    const served = await Promise.all(ready.map((p) => servedCert(p.status!.podIP!, ca)));
    expect(new Set(served.map((c) => c.fingerprint256)).size).toBe(1);
    const vwc = await admin.admission.readValidatingWebhookConfiguration({ name: RELEASE });
    const mwc = await admin.admission.readMutatingWebhookConfiguration({ name: RELEASE });
    const bundles = [...(vwc.webhooks ?? []), ...(mwc.webhooks ?? [])].map((w) =>
      Buffer.from(w.clientConfig.caBundle ?? '', 'base64').toString(),
    );
    expect(bundles).toHaveLength(3);
    for (const b of bundles) expect(b.trim()).toBe(ca.trim());
  });

  test("the seed's wrongful release, made as spiderpool-controller, is denied through the Service", async () => {
    const result = await runStsScaleDownUp({ admin, agent, gc }, app.name, '10.31');
    expect(result.gcRelease).toMatchObject({ ok: false, code: 403 });
    expect(result.gcRelease.message).toContain('LIVE_IP_RELEASE');
    expect(result.gcEndpointDelete.message).toContain('LIVE_ENDPOINT_DELETE');
    expect(result.finalRecord).toEqual({ pod: `${app.name}/web-2`, podUid: result.newUid });
    // one of the chart's pods made the decision (its audit line is in its container log)
    const logs = (await guardPods())
      .map((p) => containerLog(stateDir, p, 'guard', p.status?.containerStatuses?.[0]?.restartCount ?? 0))
      .join('\n');
    expect(logs).toMatch(
      new RegExp(
        `"event":"admission.denied".*"rule":"LIVE_IP_RELEASE"|"rule":"LIVE_IP_RELEASE".*"event":"admission.denied"`,
      ),
    );
    await deletePool(admin.custom, result.pool);
  });

  test('helm test passes', async () => {
    const out = await helm('test', RELEASE, '--namespace', ns.name, '--timeout', '2m');
    expect(out).toMatch(/Phase:\s+Succeeded/);
  });

  test('helm upgrade --set guard.mode=warn rolls the Deployment with 0 failed admissions under load', async () => {
    const pool = (await createPool(admin.custom, { subnet: '10.32.0.0/16', ips: ['10.32.0.10-10.32.0.20'] })).metadata
      .name!;
    await writePoolStatus(agent.custom, pool, {}, { totalIPCount: 11 });
    const before = (await guardPods()).map((p) => p.metadata!.name!);
    const load = new AdmissionLoad(kubeconfigPath(), pool, SPIDERPOOL_AGENT_USER);
    const since = Date.now();
    load.start();
    const rollout = watchRollout();
    let counts: LoadCounts;
    let timeline: RolloutChange[];
    try {
      await new Promise((r) => setTimeout(r, 2000)); // load before the rollout starts
      await helm(
        'upgrade',
        RELEASE,
        CHART_DIR,
        '--namespace',
        ns.name,
        '--reuse-values',
        '--set',
        'guard.mode=warn',
        '--wait',
        '--timeout',
        '3m',
      );
      const after = await readyPods(2, 'the rolled replicas Ready');
      expect(after.some((p) => before.includes(p.metadata!.name!))).toBe(false);
      for (const p of after) expect(p.spec?.containers[0]?.args).toContain('--mode=warn');
      await new Promise((r) => setTimeout(r, 2000)); // and after it
    } finally {
      counts = await load.stop();
      timeline = await rollout.stop();
    }
    const until = Date.now();
    await new Promise((r) => setTimeout(r, 1500)); // audit events are written asynchronously
    const failedOpen = failedOpenInAudit(testbed().auditLogPath!, pool, since);
    figures['rolling upgrade under load'] =
      `${counts.sent} reviews, ${counts.failures} failures ${JSON.stringify(counts.failureKinds)}, ${counts.failOpen} guard fail-open answers, ` +
      `${failedOpen.length} webhook calls failed open by the API server, max latency ${counts.maxLatencyMs} ms; ` +
      `endpoint not ready ${endpointLag(timeline).join(', ')} ms after each old replica's deletion was seen; ` +
      `old replicas' drains: ${drainsBetween(since, Date.now()).join('; ') || 'none logged'}`;
    if (counts.failures + counts.failOpen + failedOpen.length > 0) {
      // the evidence: what failed when, why the API server says it failed, and what the replicas and endpoints did
      const iso = (ms: number) => new Date(ms).toISOString();
      process.stderr.write(
        [
          'rolling upgrade: calls that were not judged',
          ...counts.incidents.map((i) => `  writer: sent ${iso(i.sentAt)}, answered ${iso(i.at)}: ${i.what}`),
          ...failedOpen.map((f) => `  audit: ${iso(f.at)} ${f.auditID} ${f.webhooks.join(' ')}`),
          "  API server's log:",
          ...webhookFailuresInApiserverLog(path.join(stateDir, 'logs', 'kube-apiserver.log'), since, until).map(
            (l) => `    ${l}`,
          ),
          '  rollout (pods and EndpointSlice addresses):',
          ...timeline.map((c) => `    ${iso(c.at)} ${c.key}: ${c.state}`),
          "  the replicas' logs (warnings, serving, shutdown):",
          ...guardLogsBetween(since, until).map((l) => `    ${l}`),
        ].join('\n') + '\n',
      );
    }
    expect(counts.sent).toBeGreaterThan(20);
    expect(counts.failures).toBe(0);
    expect(counts.failOpen).toBe(0);
    expect(failedOpen).toEqual([]);
    await deletePool(admin.custom, pool);
  });

  test('the PodDisruptionBudget holds when an eviction is attempted', async () => {
    const pods = await readyPods(2, 'two Ready replicas');
    const policy = admin.kc.makeApiClient(k8s.PolicyV1Api);
    await waitFor(
      'PDB allows one disruption',
      async () =>
        (await policy.readNamespacedPodDisruptionBudget({ name: RELEASE, namespace: ns.name })).status
          ?.disruptionsAllowed === 1,
      30_000,
    );
    const evict = (p: k8s.V1Pod) =>
      admin.core.createNamespacedPodEviction({
        name: p.metadata!.name!,
        namespace: ns.name,
        body: { apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name: p.metadata!.name!, namespace: ns.name } },
      });
    await evict(pods[0]); // minAvailable 1 of 2: one may go
    let code: number | undefined;
    try {
      await evict(pods[1]);
    } catch (err) {
      code = apiErrorCode(err);
    }
    expect(code).toBe(429); // the second would leave none
    expect(isReady(await admin.core.readNamespacedPod({ name: pods[1].metadata!.name!, namespace: ns.name }))).toBe(
      true,
    );
    await readyPods(2, 'the evicted replica replaced');
  });

  test("kill -9 of the leader's process: the other replica takes the Lease and reconciles; then loss of the leader's pod", async () => {
    await readyPods(2, 'two Ready replicas');
    /** The pod of a Lease holder: identities are `<pod>_<uuid>`, one per process (pod names hold no '_'). */
    const podOf = (holder: string) => holder.slice(0, holder.lastIndexOf('_'));
    const renewMs = (l?: k8s.V1LeaseSpec) => (l?.renewTime ? new Date(l.renewTime as unknown as string).getTime() : 0);
    const leader = async () => {
      const holder = await waitFor(
        'a reconciler leader',
        async () => (await lease()).spec?.holderIdentity || undefined,
        60_000,
        100,
      );
      const pod = (await guardPods()).find((p) => p.metadata!.name === podOf(holder));
      if (!pod) throw new Error(`Lease holder ${holder} is no guard pod`);
      return { holder, pod };
    };
    /** Waits until `pred` holds for the Lease holder and that replica's /metrics shows it leading and reconciling. */
    const reconcilingLeader = async (what: string, pred: (holder: string) => boolean) => {
      const holder = await waitFor(
        what,
        async () => {
          const h = (await lease()).spec?.holderIdentity;
          return h && pred(h) ? h : undefined;
        },
        60_000,
        100,
      );
      const ms = Date.now();
      const pod = await waitFor(
        `${holder} Ready`,
        async () => (await guardPods()).find((p) => p.metadata!.name === podOf(holder) && isReady(p)),
        30_000,
      );
      await waitFor(
        `${holder} reconciles`,
        async () => {
          const text = await metrics(pod.status!.podIP!);
          return (
            metricValue(text, 'spiderpool_guard_reconcile_leader') === 1 &&
            metricValue(text, 'spiderpool_guard_reconcile_passes_total') > 0
          );
        },
        60_000,
        250,
      );
      return { holder, pod, ms };
    };

    // Work for the next leader: a SpiderEndpoint left behind by a pod that no longer exists (no record, so only
    // the endpoint is left over). The reconciler deletes it (DELETE_ENDPOINT/POD_GONE) once it has persisted for
    // the settle interval, counted by the replica that leads.
    const pool = (await createPool(admin.custom, { subnet: '10.33.0.0/16', ips: ['10.33.0.10-10.33.0.20'] })).metadata
      .name!;
    await writePoolStatus(agent.custom, pool, {}, { totalIPCount: 11 });
    const leftover = `batch-done-${Date.now() % 100000}`;
    await createEndpoint(admin.custom, app.name, {
      name: leftover,
      uid: '6f1c2a9e-0000-4000-8000-00000000c0de',
      ips: [{ interface: 'eth0', ipv4: '10.33.0.15/16', ipv4Pool: pool }],
      ownerControllerType: 'Job',
      ownerControllerName: 'batch-done',
    });

    // 1. kill -9 of the leader's process. The container restarts at once with a new process, hence a new Lease
    //    identity: it is a candidate like the other replica, and each waits a full lease duration from when it
    //    observed the last renewal. The kill lands just before the leader's next renewal, when the other replica
    //    has already observed the last one (it polls every retry period) and the restarted process has not started,
    //    so the other replica normally wins. Both are legitimate: a process that boots before the other replica's
    //    next poll may win too (seen in 1 of 6 runs), and what matters is that the killed process's term ends, a new
    //    process leads within a lease duration or so, and it reconciles. (With a per-pod identity the restarted
    //    process took the Lease back at once, on the dead process's term.)
    const first = await leader();
    const pid = containerPid(first.pod, 'guard')!;
    // the guard runs with the chart's ServiceAccount token only: no kubeconfig in its environment, HOME=/
    const environ = fs.readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
    expect(environ.some((e) => e.startsWith('KUBECONFIG='))).toBe(false);
    expect(environ).toContain('HOME=/');
    const renewal = async (after: number) =>
      waitFor(
        'a renewal',
        async () => {
          const r = renewMs((await lease()).spec);
          return r > after ? r : undefined;
        },
        30_000,
        25,
      );
    const r1 = await renewal(renewMs((await lease()).spec));
    const r2 = await renewal(r1);
    await new Promise((r) => setTimeout(r, Math.max(0, r2 + 0.85 * (r2 - r1) - Date.now())));
    const t1 = Date.now();
    process.kill(pid, 'SIGKILL');
    const takeover = await reconcilingLeader('another replica holds the Lease', (h) => h !== first.holder);
    const restarted = await admin.core.readNamespacedPod({ name: first.pod.metadata!.name!, namespace: ns.name });
    figures['failover after kill -9 of the leader process'] =
      `${((takeover.ms - t1) / 1000).toFixed(1)} s to ${podOf(takeover.holder) === first.pod.metadata!.name ? 'the restarted process (a new candidate)' : 'the other replica'} leading (renew period ${r2 - r1} ms; restartCount of the killed pod ${restarted.status?.containerStatuses?.[0]?.restartCount})`;
    expect(takeover.holder).not.toBe(first.holder);
    expect(containerPid(restarted, 'guard')).not.toBe(pid);
    // a new process took over after the lease ran out on the killed one's term (not at once, as the old identity did)
    expect(takeover.ms - t1).toBeGreaterThan(5_000);
    // ... and the new leader reconciles: the leftover endpoint is deleted
    await waitFor(
      'the leftover endpoint deleted by the new leader',
      async () =>
        getEndpoint(admin.custom, app.name, leftover).then(
          () => false,
          (err: unknown) => apiErrorCode(err) === 404,
        ),
      150_000,
      500,
    );
    figures['failover after kill -9: leftover endpoint deleted'] =
      `${((Date.now() - takeover.ms) / 1000).toFixed(1)} s after the takeover (the settle interval counts from it)`;
    const events = await admin.core.listNamespacedEvent({ namespace: app.name });
    expect(
      events.items.some(
        (e) =>
          e.reason === 'SpiderpoolGuardDeletedEndpoint' &&
          e.involvedObject.name === leftover &&
          e.reportingInstance === takeover.pod.metadata!.name,
      ),
    ).toBe(true);
    await deletePool(admin.custom, pool);

    // 2. the leader's pod is lost with its process (force-deleted: SIGKILL, no Lease release): the other replica
    //    takes the Lease once it expires.
    const second = await leader();
    await readyPods(2, 'two Ready replicas');
    const t2 = Date.now();
    await admin.core.deleteNamespacedPod({
      name: second.pod.metadata!.name!,
      namespace: ns.name,
      body: { gracePeriodSeconds: 0 },
    });
    const other = await reconcilingLeader(
      'another replica holds the Lease',
      (h) => podOf(h) !== second.pod.metadata!.name,
    );
    figures['leader pod lost → the other replica leads'] =
      `${((other.ms - t2) / 1000).toFixed(1)} s (${second.holder} → ${other.holder})`;
    expect(other.ms - t2).toBeLessThan(30_000);
    await readyPods(2, 'the lost replica replaced');
  });

  test('helm uninstall: the pre-delete hook drains the replicas first; no webhook configuration, no hook object left', async () => {
    uninstallStartedAt = Date.now();
    const t0 = uninstallStartedAt;
    // where the uninstall's time goes: first moment each milestone was seen (polled while helm runs)
    const seen: Record<string, number> = {};
    const mark = (what: string, cond: boolean) => {
      if (cond && seen[what] === undefined) seen[what] = Date.now() - t0;
    };
    let uninstalling = true;
    let lastSelected = '';
    let drainLog = '';
    const watch = (async () => {
      while (uninstalling) {
        const drainPods = (
          await admin.core.listNamespacedPod({
            namespace: ns.name,
            labelSelector: 'app.kubernetes.io/component=uninstall-drain',
          })
        ).items;
        mark('drain pod created', drainPods.length > 0);
        mark(
          'drain pod Succeeded',
          drainPods.some((p) => p.status?.phase === 'Succeeded'),
        );
        for (const p of drainPods) drainLog = containerLog(stateDir, p, 'drain') || drainLog;
        mark('guard pods gone', (await guardPods()).length === 0);
        // what the hook waits for: every pod with the chart's selector labels, the `helm test` pod included
        const selected = (await admin.core.listNamespacedPod({ namespace: ns.name, labelSelector: SELECTOR })).items;
        if (selected.length > 0)
          lastSelected = selected
            .map((p) => `${p.metadata?.name} ${p.status?.phase}${p.metadata?.deletionTimestamp ? ' deleting' : ''}`)
            .join(', ');
        mark('selector pods gone', selected.length === 0);
        await new Promise((r) => setTimeout(r, 200));
      }
    })();
    await helm('uninstall', RELEASE, '--namespace', ns.name, '--wait', '--timeout', '2m').finally(
      () => (uninstalling = false),
    );
    await watch;
    process.stderr.write(`drain Job log:\n${drainLog}\n`);
    const secs = (ms: number | undefined) => (ms === undefined ? '-' : `${(ms / 1000).toFixed(1)} s`);
    figures['helm uninstall (drain hook included)'] = `${secs(Date.now() - t0)}; ${Object.entries(seen)
      .map(([k, v]) => `${k} at ${secs(v)}`)
      .join(', ')}; last pods seen: ${lastSelected}`;
    const code = async (fn: () => Promise<unknown>) =>
      fn().then(
        () => 200,
        (err: unknown) => apiErrorCode(err),
      );
    expect(await code(() => admin.admission.readValidatingWebhookConfiguration({ name: RELEASE }))).toBe(404);
    expect(await code(() => admin.admission.readMutatingWebhookConfiguration({ name: RELEASE }))).toBe(404);
    // the hook waited for the pods, so they are gone when helm returns
    expect(await guardPods()).toEqual([]);
    // hook-succeeded deleted the hook's objects (the Job's pod goes with the Job, by the garbage collector)
    const drain = `${RELEASE}-uninstall-drain`;
    const rbac = admin.kc.makeApiClient(k8s.RbacAuthorizationV1Api);
    const batch = admin.kc.makeApiClient(k8s.BatchV1Api);
    expect(await code(() => batch.readNamespacedJob({ name: drain, namespace: ns.name }))).toBe(404);
    expect(await code(() => rbac.readNamespacedRole({ name: drain, namespace: ns.name }))).toBe(404);
    expect(await code(() => rbac.readNamespacedRoleBinding({ name: drain, namespace: ns.name }))).toBe(404);
    expect(await code(() => admin.core.readNamespacedServiceAccount({ name: drain, namespace: ns.name }))).toBe(404);
    await waitFor(
      "the drain Job's pod gone",
      async () =>
        (
          await admin.core.listNamespacedPod({
            namespace: ns.name,
            labelSelector: 'app.kubernetes.io/component=uninstall-drain',
          })
        ).items.length === 0,
      30_000,
    );
  });

  // Over the whole suite, uninstall included: the pre-delete hook stops the replicas while their Role/RoleBinding
  // still exist, so not even their last Lease and Secret reads are refused.
  test("RBAC proven by use: the API server answered the chart's ServiceAccount 0 times with 403, uninstall included", async () => {
    const user = `system:serviceaccount:${ns.name}:${RELEASE}`;
    let total = 0;
    const forbidden: string[] = [];
    let duringUninstall = 0;
    for (const line of fs.readFileSync(testbed().auditLogPath!, 'utf8').split('\n')) {
      if (!line.includes(user)) continue;
      const e = JSON.parse(line) as {
        stage: string;
        user: { username: string };
        verb: string;
        requestURI: string;
        responseStatus?: { code: number };
        requestReceivedTimestamp: string;
      };
      if (e.user.username !== user || e.stage !== 'ResponseComplete') continue;
      total++;
      if (uninstallStartedAt && new Date(e.requestReceivedTimestamp).getTime() >= uninstallStartedAt) duringUninstall++;
      if (e.responseStatus?.code === 403) forbidden.push(`${e.requestReceivedTimestamp} ${e.verb} ${e.requestURI}`);
    }
    figures['403 responses to the guard (audit log)'] =
      `${forbidden.length} of ${total} requests (${duringUninstall} of them during helm uninstall)${forbidden.length ? `: ${forbidden.join(', ')}` : ''}`;
    expect(uninstallStartedAt).toBeDefined();
    expect(total).toBeGreaterThan(50);
    expect(forbidden).toEqual([]);
  });
});
