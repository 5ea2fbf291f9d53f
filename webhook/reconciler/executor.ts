// The executor: the only part of the reconciler that writes. For every planned action it re-reads the object it
// writes and the objects the decision rests on, re-plans on that fresh state, judges the exact write with
// guard.evaluate (as a guarded writer), and writes conditionally:
// - pool status: PUT .../spiderippools/<name>/status carrying the fresh resourceVersion (409 → re-read, re-plan
//   that pool, bounded retries); releases are uid-conditional (a key is removed only while it still holds the
//   planned podUid);
// - endpoint: DELETE with preconditions {uid, resourceVersion} of the object judged; Spiderpool's finalizer is then
//   removed by a JSON patch whose `test` ops pin uid, resourceVersion and the finalizer entry, and only once no pool
//   records the endpoint's IPs under its uid (release before forget).
// Writes are rate-limited; dry-run judges everything and writes nothing.
//
// Every execution runs under the signal of the current leadership term (ExecutorOptions.stopSignal). When it fires
// (leadership lost, shutdown) the API calls in flight are aborted (the adapter tears the request down, so it is not
// sent on later), nothing further is read, judged or written, and the remaining actions end as "stale".
import { Logger } from '../log';
import { describeApiError, isConflict, isInvalid, isNotFound } from '../../lib/api-errors';
import { violationMessage } from '../guard';
import {
  endpointFacts,
  poolFacts,
  EndpointFacts,
  PoolFacts,
  SPIDER_FINALIZER,
  StaticIpConfig,
  nsName,
  splitNsName,
  ClusterView,
  ObjectRef,
  ReconcileClient,
} from '../model';
import { ActionEvents } from './action-events';
import { Action, DeleteEndpointAction, PoolAction } from './actions';
import { Finding } from './finding-types';
import { countMismatch, isMalformedPool } from './findings';
import { PoolOverlay, nameEvidence } from './fresh-evidence';
import { ReconcilerMetrics } from './metrics';
import { endpointAction, recordAction, recordedUnderUid, restoreAction } from './plan';
import { buildPoolWrite } from './pool-write';
import { unrecordedRestoreAction } from './restore-unrecorded';
import { RateLimiter } from './rate-limiter';
import { checkEndpointDelete, checkEndpointUpdate, checkPoolStatusWrite } from './selfcheck';
import { Clock, realClock } from './clock';
import { abortable } from '../../lib/abortable';

export const DEFAULT_MAX_WRITES_PER_SECOND = 5;
export const DEFAULT_CONFLICT_RETRIES = 3;

/** Thrown by a beforeWrite hook to stop writing (leadership lost, shutdown): the action ends as "stale". */
export class ExecutionStopped extends Error {}

export type ActionOutcome = 'done' | 'dry-run' | 'stale' | 'gone' | 'blocked' | 'deferred' | 'conflict' | 'failed';

export interface ActionResult {
  action: Action;
  result: ActionOutcome;
  detail?: string;
}

export interface WriteHookInfo {
  kind: 'poolStatus' | 'endpointDelete' | 'endpointFinalizer';
  name: string;
  namespace?: string;
}

export interface ExecutorOptions {
  client: ReconcileClient;
  staticIp: StaticIpConfig;
  /** our identity in the guard self-check, e.g. system:serviceaccount:kube-system:spiderpool-guard */
  user: string;
  log: Logger;
  metrics?: ReconcilerMetrics;
  /** judge everything, write nothing (logged and counted as result "dry-run") */
  dryRun?: boolean;
  /** writes per second (default 5) */
  maxWritesPerSecond?: number;
  /** 409 retries per pool / endpoint (default 3) */
  maxConflictRetries?: number;
  /** emit core v1 Events (default true) */
  events?: boolean;
  clock?: Clock;
  /** test hook: runs after the fresh re-read and judgement, just before each write */
  beforeWrite?: (info: WriteHookInfo) => Promise<void> | void;
  /** the signal of the current leadership term, read when an execution starts; fires when the term ends */
  stopSignal?: () => AbortSignal | undefined;
}

export class Executor {
  private readonly limiter: RateLimiter;
  private readonly retries: number;
  private readonly events: ActionEvents;

  constructor(private readonly o: ExecutorOptions) {
    this.events = new ActionEvents(o.client, o.log, o.events !== false && !o.dryRun);
    this.limiter = new RateLimiter(o.maxWritesPerSecond ?? DEFAULT_MAX_WRITES_PER_SECOND, o.clock ?? realClock);
    this.retries = o.maxConflictRetries ?? DEFAULT_CONFLICT_RETRIES;
  }

  /** Executes settled actions of one plan: pool writes first (release before forget), then endpoint deletes. */
  async execute(actions: Action[], view: ClusterView): Promise<ActionResult[]> {
    const signal = this.o.stopSignal?.();
    const results: ActionResult[] = [];
    const byPool = new Map<string, PoolAction[]>();
    for (const a of actions) {
      if (a.action === 'DELETE_ENDPOINT') continue;
      const list = byPool.get(a.pool);
      if (list) list.push(a);
      else byPool.set(a.pool, [a]);
    }
    for (const [pool, planned] of byPool)
      results.push(...(await this.guarded(planned, signal, () => this.executePool(pool, planned, view, signal))));
    // In a dry run nothing was released: count the releases that would have been made.
    const wouldRelease = new Set(
      results
        .filter((r) => r.result === 'dry-run' && r.action.action === 'RELEASE_IP')
        .map((r) => `${r.action.pool}|${r.action.ip}|${r.action.record?.podUid}`),
    );
    for (const a of actions) {
      if (a.action !== 'DELETE_ENDPOINT') continue;
      results.push(
        ...(await this.guarded([a], signal, async () => [await this.executeEndpoint(a, view, wouldRelease, signal)])),
      );
    }
    for (const r of results) this.record(r);
    return results;
  }

  /** The pool as the API server has it now (null when absent): heal passes plan from it, not from the cache. */
  async readPool(name: string): Promise<PoolFacts | null> {
    const obj = await this.o.client.getPool(name);
    return obj ? poolFacts(obj) : null;
  }

  /** Emits a Warning Event on each pod of a conflict the reconciler will not fix. */
  reportConflict(f: Finding): Promise<void> {
    return this.events.conflict(f);
  }

  private async guarded(
    planned: Action[],
    signal: AbortSignal | undefined,
    run: () => Promise<ActionResult[]>,
  ): Promise<ActionResult[]> {
    try {
      stopIfAborted(signal);
      return await run();
    } catch (err) {
      if (err instanceof ExecutionStopped)
        return planned.map((a) => ({ action: a, result: 'stale' as const, detail: err.message }));
      if (signal?.aborted)
        return planned.map((a) => ({ action: a, result: 'stale' as const, detail: stoppedMessage(signal) }));
      const detail = describeApiError(err);
      for (const a of planned)
        this.o.log.error({ err, ...this.logFields(a) }, `reconcile action failed: ${a.message}: ${detail}`);
      return planned.map((a) => ({ action: a, result: 'failed' as const, detail }));
    }
  }

  private logFields(a: Action) {
    return {
      action: a.action,
      reason: a.reason,
      pool: a.pool,
      ip: a.ip,
      pod: a.record?.pod,
      podUid: a.record?.podUid ?? a.endpoint?.podUid,
      endpoint: a.endpoint?.name,
      endpointUid: a.endpoint?.objectUid,
    };
  }

  private record(r: ActionResult): void {
    this.o.metrics?.actions.inc({ action: r.action.action, reason: r.action.reason, result: r.result });
    const fields = {
      ...this.logFields(r.action),
      result: r.result,
      detail: r.detail,
      dryRun: this.o.dryRun || undefined,
    };
    if (r.result === 'failed' || r.result === 'blocked')
      this.o.log.error(
        fields,
        `reconcile ${r.action.action} ${r.result}: ${r.action.message}${r.detail ? `: ${r.detail}` : ''}`,
      );
    else if (r.result === 'done' || r.result === 'dry-run')
      this.o.log.info(fields, `reconcile ${r.action.action} ${r.result}: ${r.action.message}`);
    else this.o.log.info(fields, `reconcile ${r.action.action} skipped (${r.result}): ${r.detail ?? r.action.message}`);
  }

  private async beforeWrite(info: WriteHookInfo, signal: AbortSignal | undefined): Promise<void> {
    await abortable(this.limiter.take(), signal);
    if (this.o.beforeWrite) await this.o.beforeWrite(info);
    stopIfAborted(signal);
  }

  // -- pools -----------------------------------------------------------------------------------------------------

  private async executePool(
    name: string,
    planned: PoolAction[],
    base: ClusterView,
    signal: AbortSignal | undefined,
  ): Promise<ActionResult[]> {
    const cfg = this.o.staticIp;
    const call = { signal };
    let last: ActionResult[] = [];
    for (let attempt = 0; attempt <= this.retries; attempt++) {
      const obj = await this.o.client.getPool(name, call);
      if (!obj) return planned.map((a) => ({ action: a, result: 'gone', detail: `pool ${name} no longer exists` }));
      const fresh = poolFacts(obj);
      if (isMalformedPool(fresh))
        return planned.map((a) => ({ action: a, result: 'blocked', detail: `pool ${name} allocatedIPs is malformed` }));
      const refs: ObjectRef[] = [];
      for (const a of planned) {
        const n = a.record && splitNsName(a.record.pod);
        if (n) refs.push(...nameEvidence(n.namespace, n.name, cfg));
        // an unrecorded IP's restore rests on the observing pod itself (a launcher pod is not named like its record)
        const holder =
          a.action === 'RESTORE_RECORD' && a.reason === 'UNRECORDED_LIVE_IP' ? splitNsName(a.pods[0].name) : undefined;
        if (holder) refs.push({ kind: 'pod', namespace: holder.namespace, name: holder.name });
      }
      const view = new PoolOverlay(base, await abortable(this.o.client.read(refs), signal), new Map([[name, fresh]]));
      const results: ActionResult[] = [];
      let todo: PoolAction[] = [];
      for (const a of planned) {
        const verdict = this.rejudgePoolAction(a, view, fresh);
        if (verdict) results.push({ action: a, ...verdict });
        else todo.push(a);
      }
      if (todo.length === 0) return results;
      // Build the write from the object as read: other keys (even ones we cannot judge) are kept byte-for-byte.
      let write = buildPoolWrite(obj, fresh, todo);
      const violations = checkPoolStatusWrite(view, cfg, this.o.user, obj, write);
      if (violations.length > 0) {
        const bad = new Set(violations.map((v) => v.ip));
        const blamed = (a: PoolAction) => bad.has(undefined) || bad.has(a.ip) || a.action === 'FIX_COUNT';
        for (const a of todo.filter(blamed)) {
          results.push({
            action: a,
            result: 'blocked',
            detail:
              violations
                .filter((v) => v.ip === a.ip || v.ip === undefined)
                .map(violationMessage)
                .join('; ') || violations.map(violationMessage).join('; '),
          });
        }
        todo = todo.filter((a) => !blamed(a));
        if (todo.length === 0) return results;
        write = buildPoolWrite(obj, fresh, todo);
        if (checkPoolStatusWrite(view, cfg, this.o.user, obj, write).length > 0) {
          return [
            ...results,
            ...todo.map((a) => ({
              action: a,
              result: 'blocked' as const,
              detail: 'the guard denies the remaining write',
            })),
          ];
        }
      }
      if (this.o.dryRun) return [...results, ...todo.map((a) => ({ action: a, result: 'dry-run' as const }))];
      await this.beforeWrite({ kind: 'poolStatus', name }, signal);
      try {
        await this.o.client.replacePoolStatus(name, write, call);
      } catch (err) {
        stopIfAborted(signal);
        if (isConflict(err)) {
          this.o.log.debug(
            { pool: name, attempt },
            `pool ${name} changed since read (409): re-reading and re-planning`,
          );
          last = [
            ...results,
            ...todo.map((a) => ({
              action: a,
              result: 'conflict' as const,
              detail: `pool ${name} kept changing (409 after ${attempt + 1} attempts)`,
            })),
          ];
          continue;
        }
        const detail = describeApiError(err);
        return [...results, ...todo.map((a) => ({ action: a, result: 'failed' as const, detail }))];
      }
      for (const a of todo) await this.events.poolWritten(a, obj, signal);
      return [...results, ...todo.map((a) => ({ action: a, result: 'done' as const }))];
    }
    return last;
  }

  /** Undefined when the action still holds on the fresh state; else why not. */
  private rejudgePoolAction(
    a: PoolAction,
    view: ClusterView,
    fresh: PoolFacts,
  ): { result: ActionOutcome; detail: string } | undefined {
    const cfg = this.o.staticIp;
    if (a.action === 'FIX_COUNT') {
      return countMismatch(fresh)
        ? undefined
        : { result: 'gone', detail: `allocatedIPCount of pool ${fresh.name} is already right` };
    }
    if (a.action === 'RELEASE_IP') {
      const rec = fresh.records.get(a.ip);
      if (!rec || rec.pod !== a.record.pod || rec.podUid !== a.record.podUid) {
        return {
          result: 'gone',
          detail: `IP ${a.ip} of pool ${fresh.name} is no longer recorded for ${a.record.pod} uid ${a.record.podUid}`,
        };
      }
      const again = recordAction(view, cfg, fresh, a.ip, rec);
      if (!again) {
        return {
          result: 'stale',
          detail: `fresh state no longer calls for releasing IP ${a.ip} (${a.record.pod} uid ${a.record.podUid})`,
        };
      }
      return undefined;
    }
    // RESTORE_RECORD
    if (fresh.records.has(a.ip))
      return { result: 'gone', detail: `IP ${a.ip} is recorded in pool ${fresh.name} again` };
    const n = splitNsName(a.record.pod);
    const ep = n && view.endpoint(n.namespace, n.name);
    const again =
      a.reason === 'UNRECORDED_LIVE_IP'
        ? unrecordedRestoreAction(view, cfg, fresh, a.ip)
        : ep && restoreAction(view, cfg, fresh, ep, a.ip);
    if (!again || again.record.podUid !== a.record.podUid) {
      return {
        result: 'stale',
        detail: `fresh state no longer calls for restoring IP ${a.ip} for ${a.record.pod} uid ${a.record.podUid}`,
      };
    }
    return undefined;
  }

  // -- endpoints -------------------------------------------------------------------------------------------------

  private async executeEndpoint(
    a: DeleteEndpointAction,
    base: ClusterView,
    wouldRelease: Set<string>,
    signal: AbortSignal | undefined,
  ): Promise<ActionResult> {
    const cfg = this.o.staticIp;
    const call = { signal };
    const judged = a.endpoint;
    const n = splitNsName(judged.name);
    if (!n) return { action: a, result: 'failed', detail: `SpiderEndpoint ${judged.name} is not a namespace/name` };
    let deleted = false;
    for (let attempt = 0; attempt <= this.retries + 1; attempt++) {
      const obj = await this.o.client.getEndpoint(n.namespace, n.name, call);
      if (!obj)
        return deleted
          ? { action: a, result: 'done' }
          : { action: a, result: 'gone', detail: `SpiderEndpoint ${judged.name} no longer exists` };
      const fe = endpointFacts(obj);
      if (fe.objectUid !== judged.objectUid || fe.podUid !== judged.podUid) {
        return {
          action: a,
          result: deleted ? 'done' : 'stale',
          detail: `SpiderEndpoint ${judged.name} was replaced (object uid ${fe.objectUid}, current.uid ${fe.podUid}; judged ${judged.objectUid}, ${judged.podUid})`,
        };
      }
      const view = await this.freshEndpointView(fe, base, signal);
      if (!deleted) {
        const again = endpointAction(view, cfg, fe);
        if (!again)
          return {
            action: a,
            result: 'stale',
            detail: `fresh state no longer calls for deleting SpiderEndpoint ${judged.name} uid ${fe.podUid}`,
          };
      }
      const pending = recordedUnderUid(view, fe).filter((r) => !wouldRelease.has(`${r.pool}|${r.ip}|${fe.podUid}`));
      if (pending.length > 0) {
        return {
          action: a,
          result: deleted ? 'done' : 'deferred',
          detail: `pools still record ${pending.map((p) => `${p.ip} (${p.pool})`).join(', ')} under uid ${fe.podUid}: release first`,
        };
      }
      if (!fe.deleting) {
        const violations = checkEndpointDelete(view, cfg, this.o.user, obj);
        if (violations.length > 0)
          return { action: a, result: 'blocked', detail: violations.map(violationMessage).join('; ') };
        if (this.o.dryRun) return { action: a, result: 'dry-run' };
        await this.beforeWrite({ kind: 'endpointDelete', name: n.name, namespace: n.namespace }, signal);
        try {
          await this.o.client.deleteEndpoint(
            n.namespace,
            n.name,
            { uid: fe.objectUid, resourceVersion: fe.resourceVersion },
            call,
          );
        } catch (err) {
          stopIfAborted(signal);
          if (isNotFound(err))
            return { action: a, result: 'gone', detail: `SpiderEndpoint ${judged.name} no longer exists` };
          if (isConflict(err)) continue; // changed or replaced since read: re-read and re-judge
          return { action: a, result: 'failed', detail: describeApiError(err) };
        }
        deleted = true;
        await this.events.endpointWritten(a, fe, signal);
        if (!fe.finalizers.includes(SPIDER_FINALIZER)) return { action: a, result: 'done' };
        continue; // re-read: the object now waits for Spiderpool's finalizer
      }
      const idx = fe.finalizers.indexOf(SPIDER_FINALIZER);
      if (idx < 0)
        return {
          action: a,
          result: deleted ? 'done' : 'gone',
          detail: deleted ? undefined : `SpiderEndpoint ${judged.name} is already being deleted`,
        };
      const next = {
        ...obj,
        metadata: { ...(obj.metadata as object), finalizers: fe.finalizers.filter((_, i) => i !== idx) },
      };
      const violations = checkEndpointUpdate(view, cfg, this.o.user, obj, next);
      if (violations.length > 0)
        return { action: a, result: 'blocked', detail: violations.map(violationMessage).join('; ') };
      if (this.o.dryRun) return { action: a, result: 'dry-run' };
      await this.beforeWrite({ kind: 'endpointFinalizer', name: n.name, namespace: n.namespace }, signal);
      try {
        await this.o.client.patchEndpoint(
          n.namespace,
          n.name,
          [
            { op: 'test', path: '/metadata/uid', value: fe.objectUid },
            { op: 'test', path: '/metadata/resourceVersion', value: fe.resourceVersion },
            { op: 'test', path: `/metadata/finalizers/${idx}`, value: SPIDER_FINALIZER },
            { op: 'remove', path: `/metadata/finalizers/${idx}` },
          ],
          call,
        );
      } catch (err) {
        stopIfAborted(signal);
        if (isNotFound(err)) return { action: a, result: deleted ? 'done' : 'gone' };
        if (isConflict(err) || isInvalid(err)) continue; // a test op failed: the object changed; re-read
        return { action: a, result: 'failed', detail: describeApiError(err) };
      }
      if (!deleted) await this.events.endpointWritten(a, fe, signal);
      return { action: a, result: 'done' };
    }
    return { action: a, result: deleted ? 'done' : 'conflict', detail: `SpiderEndpoint ${judged.name} kept changing` };
  }

  private async freshEndpointView(
    fe: EndpointFacts,
    base: ClusterView,
    signal: AbortSignal | undefined,
  ): Promise<ClusterView> {
    const refs = nameEvidence(fe.namespace, fe.name, this.o.staticIp).filter((r) => r.kind !== 'endpoint');
    const fresh = await abortable(this.o.client.read(refs), signal);
    fresh.endpoints.set(nsName(fe.namespace, fe.name), fe);
    const pools = new Map<string, PoolFacts | null>();
    for (const poolName of new Set(fe.ips.map((i) => i.pool))) {
      const p = await this.o.client.getPool(poolName, { signal });
      pools.set(poolName, p ? poolFacts(p) : null);
    }
    return new PoolOverlay(base, fresh, pools);
  }
}

function stoppedMessage(signal: AbortSignal): string {
  const reason: unknown = signal.reason;
  return `stopped: ${reason instanceof Error ? reason.message : 'leadership ended'}`;
}

/** Throws ExecutionStopped once the term's signal fired: nothing is read, judged or written after that. */
function stopIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new ExecutionStopped(stoppedMessage(signal));
}
