/**
 * One chaos run: a fresh namespace and pool (own subnet) on a test bed, optionally the guard (with its
 * reconciler), the simulated node agent and Spiderpool GC, the four phases with a checkpoint after each, then the
 * measurements. Everything the run created is removed afterwards.
 */
import * as crypto from 'node:crypto';
import { clientsFor, type Clients } from '../../testbed/clients';
import {
  createPool,
  ENDPOINTS,
  getPool,
  type PoolRecord,
  SPIDERPOOL_GROUP,
  SPIDERPOOL_VERSION,
  writePoolStatus,
} from '../../testbed/spiderpool/objects';
import { loopbackCerts, registerWebhooks, startGuard, unregisterWebhooks } from '../../testbed/guard';
import { SPIDERPOOL_AGENT, SPIDERPOOL_CONTROLLER, type Testbed } from '../../testbed/testbed';
import * as k8s from '@kubernetes/client-node';
import { classifyDenials, type AuditEventLike, type DenialSummary } from './denials';
import { SpiderpoolGc, type GcStats } from '../../testbed/spiderpool/gc';
import { scanDecision, type GcVersion } from '../../testbed/spiderpool/gc-scan';
import {
  boundToStayWithoutIp,
  checkConflictFindings,
  conflictsAmong,
  ConflictSampler,
  latentConflicts,
  latentKey,
  podsWithoutIp,
  poolSanity,
  readState,
  runningWithIp,
  unrecordedIps,
  type Conflict,
  type Latent,
} from './measure';
import { NodeAgent, type AgentStats } from '../../testbed/spiderpool/node-agent';
import { hostRange } from '../../testbed/spiderpool/pool-ips';
import { ChaosScenario, type Workload } from './scenario';
import { createZombieNode, deleteZombieNode, zombieScenario, type ZombieOutcome } from './zombie';
import { GroundTruth } from '../../testbed/spiderpool/truth';
import { Prng, say, sleep } from '../../testbed/spiderpool/util';

export interface Timings {
  /** upper bound of every random delay (G00012: 29 s) */
  maxDelayMs: number;
  /** wait after the pods are back, before measuring (G00012: GC interval + 20 s) */
  settleMs: number;
  readyTimeoutMs: number;
  /** after the delete phase: how long to wait for the pool and endpoints to empty */
  leftoverTimeoutMs: number;
  gcScanMs: number;
  traceGapMs: number;
  graceSeconds: number;
  /** StatefulSet pods' grace (sets the GC's trace window for the cycles) */
  stsGraceSeconds: number;
  /** cycles: stay scaled down this long once the doomed pods are terminating */
  traceLeadMs: number;
  /** cycles: wait this long once the GC is done with the cycled pods' trace entries */
  cycleSettleMs: number;
  /**
   * a latent conflict whose record comes back within this long is not counted: 2 × (the guard's reconcile interval
   * + settle), the time its reconciler needs to restore a missing record even on a loaded machine
   */
  latentHealMs: number;
}

export const FULL_TIMINGS: Timings = {
  maxDelayMs: 2000,
  settleMs: 5000,
  readyTimeoutMs: 90_000,
  leftoverTimeoutMs: 45_000,
  gcScanMs: 5000,
  traceGapMs: 1000,
  graceSeconds: 2,
  stsGraceSeconds: 4,
  traceLeadMs: 1200,
  cycleSettleMs: 1000,
  latentHealMs: 20_000,
};
export const SHORT_TIMINGS: Timings = {
  maxDelayMs: 2000,
  settleMs: 6000,
  readyTimeoutMs: 60_000,
  leftoverTimeoutMs: 30_000,
  gcScanMs: 3000,
  traceGapMs: 1000,
  graceSeconds: 2,
  stsGraceSeconds: 4,
  traceLeadMs: 1200,
  cycleSettleMs: 1000,
  latentHealMs: 20_000,
};

/** StatefulSet down/up cycles aimed at the GC's trace window in a default run */
export const DEFAULT_CYCLES = 2;

/** g00012: Spiderpool's chaos scenario (scenario.ts); zombie: a pod on a node that stopped reporting (zombie.ts) */
export type ScenarioName = 'g00012' | 'zombie';

/** Pods (and pool IPs) of the zombie scenario. */
export const ZOMBIE_PODS = 4;

export interface RunConfig {
  /** default g00012 */
  scenario?: ScenarioName;
  guard: boolean;
  gc: GcVersion;
  seed: number;
  /** distinct per run on one test bed: picks the subnet 10.<100+index>.<seed % 256>.0/24 */
  index: number;
  workloads: Workload[];
  replicas: number;
  timings: Timings;
  /** run the guard's reconciler beside the webhook (when the guard is on) */
  reconcile: boolean;
  flap: boolean;
  /** StatefulSet down/up cycles aimed at the GC's trace window, between create and scale */
  cycles: number;
  /**
   * A guard serving every guarded run of a batch at once (runs in parallel on one test bed): the run neither
   * starts nor stops it and takes from its audit log only the events about its own pool and namespace. Without
   * it a guarded run starts its own guard.
   */
  sharedGuard?: ChaosGuard;
}

/** A guard process (with its reconciler when requested) and its webhook registration on the test bed. */
export interface ChaosGuard {
  url: string;
  reconcile: boolean;
  auditEvents(): AuditEventLike[];
  stop(): Promise<void>;
}

/**
 * Starts the guard and registers its webhooks. The Lease is named after the registration, so that a guard of an
 * earlier run on the same test bed (whose Lease may not have run out yet) does not delay this one's reconciler.
 */
export async function startChaosGuard(
  tb: Testbed,
  admin: Clients,
  name: string,
  reconcile: boolean,
): Promise<ChaosGuard> {
  const certs = await loopbackCerts();
  const reconcileArgs = reconcile
    ? [
        '--reconcile-interval',
        '5',
        '--settle-seconds',
        '5',
        '--leader-election-namespace',
        'kube-system',
        '--leader-election-lease',
        name,
      ]
    : [];
  const proc = await startGuard({
    kubeconfigPath: tb.kubeconfigPath,
    certs,
    noReconcile: !reconcile,
    args: reconcileArgs,
  });
  await registerWebhooks(admin.kc, { baseUrl: proc.url, caBundle: certs.ca, name });
  say('run', `guard serving at ${proc.url}${reconcile ? ' (reconciler requested)' : ''}`);
  // With failurePolicy Fail a guard that is gone fails every pool and endpoint write: pods without IPs and
  // leftovers would follow. Say so, so that such a run is not read as a decision of the guard.
  let stopping = false;
  proc.proc.once('exit', (code, signal) => {
    if (!stopping)
      say(
        'run',
        `GUARD EXITED (code ${code}, signal ${signal}) while runs still use it; last lines: ${proc.lines.slice(-3).join(' | ').slice(0, 600)}`,
      );
  });
  return {
    url: proc.url,
    reconcile,
    auditEvents: () => proc.auditEvents() as AuditEventLike[],
    stop: async () => {
      stopping = true;
      await unregisterWebhooks(admin.kc, name).catch(() => undefined);
      await proc.stop();
    },
  };
}

/** The audit events about one run: its pool's status writes and its namespace's endpoints. */
export function eventsOfRun(events: AuditEventLike[], namespace: string, pool: string): AuditEventLike[] {
  return events.filter((e) => e.name === pool || e.pool === pool || e.namespace === namespace);
}

export interface PhaseCheck {
  phase: string;
  expected: number;
  running: number;
  conflicts: Conflict[];
  conflictFindings: number;
  sanity: string[];
  stuck: string[];
  /** alive pods on an IP the pool does not record for them */
  unrecorded: string[];
  latent: Latent[];
}

export interface RunResult {
  guard: 'off' | 'on';
  gc: GcVersion;
  seed: number;
  conflicts: number;
  /** alive pods seen on an IP their pool did not record for them (sampled all run long, and at checkpoints) */
  latentConflicts: number;
  sanityViolations: number;
  leftovers: number;
  denials: number;
  falseDenials: number;
  stuckPods: number;
  seconds: number;
  /** details (table / debugging; not part of the stable JSON) */
  detail: {
    namespace: string;
    pool: string;
    checks: PhaseCheck[];
    conflictList: Conflict[];
    latentList: string[];
    /** latent conflicts the pool's record came back for within latentHealMs (not counted) */
    latentHealed: string[];
    leftoverList: string[];
    denialSummary: DenialSummary;
    agent: AgentStats;
    gcStats: GcStats;
    /** `serve` was started without --no-reconcile (whether it runs a reconciler depends on the build) */
    reconcilerRequested: boolean;
    /** the zombie scenario's outcome */
    zombie?: ZombieOutcome;
  };
}

async function createNamespace(admin: Clients, name: string): Promise<void> {
  await admin.core.createNamespace({
    body: { metadata: { name, labels: { 'spiderpool-guard.bench/chaos': 'true' } } },
  });
  for (let i = 0; i < 300; i++) {
    try {
      await admin.core.readNamespacedServiceAccount({ namespace: name, name: 'default' });
      return;
    } catch {
      await sleep(100);
    }
  }
  throw new Error(`namespace ${name}: default ServiceAccount never appeared`);
}

/** Removes what a run left: pods (forced), endpoint finalizers, the namespace, the pool. */
async function cleanup(admin: Clients, namespace: string, pool: string): Promise<void> {
  const merge = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);
  await admin.core.deleteNamespace({ name: namespace }).catch(() => undefined);
  for (let i = 0; i < 20; i++) {
    const pods = await admin.core.listNamespacedPod({ namespace }).catch(() => ({ items: [] as k8s.V1Pod[] }));
    for (const p of pods.items)
      await admin.core
        .deleteNamespacedPod({
          namespace,
          name: p.metadata!.name!,
          gracePeriodSeconds: 0,
          body: { gracePeriodSeconds: 0 },
        })
        .catch(() => undefined);
    const eps = (await admin.custom
      .listNamespacedCustomObject({
        group: SPIDERPOOL_GROUP,
        version: SPIDERPOOL_VERSION,
        plural: ENDPOINTS,
        namespace,
      })
      .catch(() => ({ items: [] }))) as {
      items: { metadata: k8s.V1ObjectMeta }[];
    };
    for (const e of eps.items) {
      await admin.custom
        .patchNamespacedCustomObject(
          {
            group: SPIDERPOOL_GROUP,
            version: SPIDERPOOL_VERSION,
            plural: ENDPOINTS,
            namespace,
            name: e.metadata.name!,
            body: { metadata: { finalizers: null } },
          },
          merge,
        )
        .catch(() => undefined);
    }
    const gone = await admin.core.readNamespace({ name: namespace }).then(
      () => false,
      () => true,
    );
    if (gone) break;
    await sleep(1000);
  }
  await admin.custom
    .deleteClusterCustomObject({
      group: SPIDERPOOL_GROUP,
      version: SPIDERPOOL_VERSION,
      plural: 'spiderippools',
      name: pool,
    })
    .catch(() => undefined);
}

async function checkpoint(
  phase: string,
  admin: Clients,
  scenario: ChaosScenario,
  cfg: RunConfig,
  namespace: string,
  pool: string,
  agent: NodeAgent,
  gc: SpiderpoolGc,
): Promise<PhaseCheck> {
  const expected = scenario.expectedPods();
  const deadline = Date.now() + cfg.timings.readyTimeoutMs;
  let boundSince: number | undefined;
  // Without the guard (no reconciler), the GC's own scan decides whether a record of a pod that now has another
  // uid is ever released; with it, the reconciler may release such a record, so nothing is assumed.
  const keptByUnguardedGc = (ip: string, record: PoolRecord, pod: k8s.V1Pod | undefined) =>
    !cfg.guard &&
    pod !== undefined &&
    pod.metadata?.uid !== record.podUid &&
    !scanDecision(cfg.gc, { ip, recordUid: record.podUid, pod, validSts: true, now: Date.now() }).release;
  for (;;) {
    const pods = (await admin.core.listNamespacedPod({ namespace })).items;
    const running = runningWithIp(pods);
    const alive = pods.filter((p) => !p.metadata?.deletionTimestamp).length;
    if ((running >= expected && alive === expected) || Date.now() > deadline) break;
    // The outcome is known when it has held for two GC scans with the GC idle: stop waiting for the timeout.
    const bound =
      alive === expected &&
      gc.idle() &&
      boundToStayWithoutIp(await getPool(admin.custom, pool), pods, keptByUnguardedGc);
    boundSince = bound ? (boundSince ?? Date.now()) : undefined;
    if (boundSince !== undefined && Date.now() - boundSince >= 2 * cfg.timings.gcScanMs) {
      say(
        `check ${namespace}`,
        `after ${phase}: pods without IP and no IP to come (pool full, every record's pod alive, nothing terminating, GC idle)`,
      );
      break;
    }
    await sleep(500);
  }
  await sleep(cfg.timings.settleMs);
  const state = await readState(admin, namespace, pool);
  const check: PhaseCheck = {
    phase,
    expected,
    running: runningWithIp(state.pods),
    conflicts: conflictsAmong(state.pods),
    conflictFindings: await checkConflictFindings(admin.kc, pool, namespace),
    sanity: poolSanity(state.pool, state.pods, state.endpoints),
    stuck: podsWithoutIp(state.pods),
    unrecorded: unrecordedIps(state.pool, state.pods),
    latent: latentConflicts(state.pool, state.pods),
  };
  say(
    `check ${namespace}`,
    `after ${phase}: ${check.running}/${expected} running with an IP, ${check.conflicts.length} conflicts (check: ${check.conflictFindings} IP_CONFLICT), ` +
      `${check.sanity.length} sanity violations, ${check.stuck.length} pods without IP, ${check.unrecorded.length} alive pods on unrecorded IPs`,
  );
  for (const line of [
    ...check.conflicts.map((c) => `conflict ${c.ip}: ${c.pods.join(' ')}`),
    ...check.sanity,
    ...check.unrecorded,
  ])
    say(`check ${namespace}`, `  ${line}`);
  for (const pod of check.stuck) say(`check ${namespace}`, `  without IP: ${pod}: ${agent.explain(pod)}`);
  return check;
}

/**
 * Waits for the pool and the namespace's endpoints to empty; returns what is left. The timeout runs from when the
 * namespace's pods are gone (at most `podsGoneMs` later): kube-controller-manager deletes the workloads' pods one
 * by one, and under load (five runs deleting at once) that alone took longer than the timeout, so records of pods
 * that were still being deleted, and were released right after, counted as leftovers.
 */
async function leftovers(
  admin: Clients,
  namespace: string,
  pool: string,
  timeoutMs: number,
  podsGoneMs: number,
): Promise<string[]> {
  const podsDeadline = Date.now() + podsGoneMs;
  while (Date.now() < podsDeadline && (await admin.core.listNamespacedPod({ namespace })).items.length > 0)
    await sleep(1000);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const state = await readState(admin, namespace, pool);
    const left = [
      ...Object.entries(
        JSON.parse(state.pool.status?.allocatedIPs ?? '{}') as Record<string, { pod: string; podUid: string }>,
      ).map(([ip, r]) => `record ${ip} → ${r.pod}@${r.podUid}`),
      ...state.endpoints.map(
        (e) =>
          `endpoint ${e.metadata.namespace}/${e.metadata.name} uid ${e.status.current.uid}${e.metadata.deletionTimestamp ? ' (deleting)' : ''}`,
      ),
    ];
    if (left.length === 0 || Date.now() > deadline) return left;
    await sleep(1000);
  }
}

export async function runChaos(tb: Testbed, cfg: RunConfig): Promise<RunResult> {
  const started = Date.now();
  const admin = clientsFor(tb.kubeConfig());
  const label = `guard ${cfg.guard ? 'on' : 'off'}, gc ${cfg.gc}, seed ${cfg.seed}`;
  const suffix = crypto.randomBytes(3).toString('hex');
  const zombieRun = cfg.scenario === 'zombie';
  const namespace = `${zombieRun ? 'zombie' : 'chaos'}-${cfg.guard ? 'on' : 'off'}-${cfg.gc === 'fixed' ? 'fixed' : 'v094'}-${cfg.seed}-${suffix}`;
  const total = zombieRun ? ZOMBIE_PODS : cfg.workloads.length * cfg.replicas;
  const zombieNode = `zombie-node-${suffix}`;
  let zombie: ZombieOutcome | undefined;
  const net = `10.${100 + (cfg.index % 150)}.${cfg.seed % 256}`;
  say('run', `=== ${label}: namespace ${namespace}, pool ${net}.0/24 with ${total} IPs`);
  await createNamespace(admin, namespace);
  const poolObj = await createPool(admin.custom, {
    name: `chaos-${suffix}`,
    subnet: `${net}.0/24`,
    ips: [hostRange(net, total)],
    gateway: `${net}.1`,
  });
  const pool = poolObj.metadata.name!;
  await writePoolStatus(admin.custom, pool, {}, { totalIPCount: total });

  let ownGuard: ChaosGuard | undefined;
  let events: AuditEventLike[];
  const truth = new GroundTruth();
  const rng = new Prng(cfg.seed);
  const agent = new NodeAgent({
    namespace,
    pool,
    prefixLength: 24,
    nodes: tb.nodes.length ? tb.nodes : ['node-1', 'node-2', 'node-3'],
    admin,
    agent: clientsFor(tb.asServiceAccount(SPIDERPOOL_AGENT.namespace, SPIDERPOOL_AGENT.name)),
    truth,
    rng: new Prng(cfg.seed ^ 0x5eed),
  });
  const gc = new SpiderpoolGc({
    version: cfg.gc,
    namespace,
    pool,
    controller: clientsFor(tb.asServiceAccount(SPIDERPOOL_CONTROLLER.namespace, SPIDERPOOL_CONTROLLER.name)),
    scanIntervalMs: cfg.timings.gcScanMs,
    traceGapMs: cfg.timings.traceGapMs,
  });
  const sampler = new ConflictSampler(admin, namespace, pool, 250);
  const checks: PhaseCheck[] = [];
  let left: string[];
  try {
    if (cfg.guard && !cfg.sharedGuard)
      ownGuard = await startChaosGuard(tb, admin, `spg-chaos-${suffix}`, cfg.reconcile);
    await agent.start();
    await gc.start();
    sampler.start();
    if (zombieRun) {
      await createZombieNode(admin, zombieNode);
      zombie = await zombieScenario({
        admin,
        namespace,
        pool,
        agent,
        truth,
        rng,
        pods: total,
        graceSeconds: cfg.timings.graceSeconds,
        maxDelayMs: cfg.timings.maxDelayMs,
        gcScanMs: cfg.timings.gcScanMs,
        readyTimeoutMs: cfg.timings.readyTimeoutMs,
        zombieNode,
      });
      await sleep(cfg.timings.settleMs);
      // the zombie keeps its IP by design (its node never confirmed): what is left is not a leak of the run
      left = [];
    } else {
      const scenario = new ChaosScenario({
        namespace,
        pool,
        admin,
        truth,
        rng,
        workloads: cfg.workloads,
        replicas: cfg.replicas,
        graceSeconds: cfg.timings.graceSeconds,
        stsGraceSeconds: cfg.timings.stsGraceSeconds,
        maxDelayMs: cfg.timings.maxDelayMs,
        traceLeadMs: cfg.timings.traceLeadMs,
        cycleSettleMs: cfg.timings.cycleSettleMs,
        gcTracing: (names) => gc.tracing(namespace, names),
        readyTimeoutMs: cfg.timings.readyTimeoutMs,
        flap: cfg.flap,
        restartController: () => gc.restart(),
      });
      await scenario.create();
      checks.push(await checkpoint('create', admin, scenario, cfg, namespace, pool, agent, gc));
      await scenario.cycles(cfg.cycles);
      await scenario.scale();
      checks.push(await checkpoint('scale', admin, scenario, cfg, namespace, pool, agent, gc));
      await scenario.restart();
      checks.push(await checkpoint('restart', admin, scenario, cfg, namespace, pool, agent, gc));
      await scenario.delete();
      left = await leftovers(admin, namespace, pool, cfg.timings.leftoverTimeoutMs, cfg.timings.readyTimeoutMs);
      say(`check ${namespace}`, `after delete: ${left.length} leftovers${left.length ? `: ${left.join('; ')}` : ''}`);
    }
  } finally {
    if (zombieRun) await deleteZombieNode(admin, zombieNode);
    await sampler.stop();
    await gc.stop();
    await agent.stop();
    const guard = cfg.guard ? (cfg.sharedGuard ?? ownGuard) : undefined;
    events = eventsOfRun(guard?.auditEvents() ?? [], namespace, pool);
    await ownGuard?.stop();
  }
  await cleanup(admin, namespace, pool);

  const denialSummary = classifyDenials(events, truth);
  for (const v of denialSummary.violations.filter((x) => !x.legitimate))
    say('denials', `FALSE ${v.rule} ${v.subject} ${v.ip ?? ''}: ${v.why}`);
  const conflictList = [...sampler.seen.values()].map(({ ip, pods }) => ({ ip, pods }));
  for (const c of checks.flatMap((x) => x.conflicts)) {
    if (!conflictList.some((k) => k.ip === c.ip && k.pods.join() === c.pods.join())) conflictList.push(c);
  }
  // Latent conflicts healed within latentHealMs are left out (LatentLog); the rest count, checkpoints' included.
  const latentKeys = new Set(sampler.latent.counted(cfg.timings.latentHealMs));
  for (const c of checks)
    for (const l of c.latent)
      if (!sampler.latent.healedWithin(latentKey(l), cfg.timings.latentHealMs)) latentKeys.add(latentKey(l));
  const latentList = [...latentKeys].sort();
  const latentHealed = [...sampler.latent.confirmed.keys()].filter((k) => !latentKeys.has(k)).sort();
  for (const k of latentHealed)
    say(`check ${namespace}`, `latent conflict healed within ${cfg.timings.latentHealMs / 1000} s (not counted): ${k}`);
  const result: RunResult = {
    guard: cfg.guard ? 'on' : 'off',
    gc: cfg.gc,
    seed: cfg.seed,
    // the zombie scenario's conflict: the probe on the IP the zombie's sandbox still holds (the zombie is not alive,
    // so the sampler, which compares alive pods, does not see it)
    conflicts: conflictList.length + (zombie?.reused ? 1 : 0),
    sanityViolations: checks.reduce((n, c) => n + c.sanity.length, 0),
    leftovers: left.length,
    denials: denialSummary.denials,
    falseDenials: denialSummary.falseDenials,
    stuckPods: checks.reduce((n, c) => n + c.stuck.length, 0),
    seconds: Math.round((Date.now() - started) / 100) / 10,
    latentConflicts: latentList.length,
    detail: {
      namespace,
      pool,
      checks,
      conflictList,
      latentList,
      latentHealed,
      leftoverList: left,
      denialSummary,
      agent: agent.stats,
      gcStats: gc.stats,
      reconcilerRequested: cfg.guard && cfg.reconcile,
      zombie,
    },
  };
  say(
    'run',
    `=== ${label}: ${result.conflicts} conflicts, ${result.latentConflicts} latent conflicts, ${result.sanityViolations} sanity violations, ${result.leftovers} leftovers, ${result.denials} denials (${result.falseDenials} false), ${result.stuckPods} stuck, ${result.seconds} s`,
  );
  return result;
}
