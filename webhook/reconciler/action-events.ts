// The core/v1 Events the executor emits: a Normal Event on the object each action wrote (and on the pod whose record
// it restored), a Warning on each pod of a conflict it will not fix. Off in dry runs and with events disabled; a
// failed emit is logged, never fatal.
import { Logger } from '../log';
import { describeApiError } from '../../lib/api-errors';
import { KubeObject, SPIDERPOOL_API_VERSION, EndpointFacts, splitNsName, EventSpec, ReconcileClient } from '../model';
import { Action, PoolAction } from './actions';
import { Finding } from './finding-types';

const EVENT_REASON: Record<Action['action'], string> = {
  RELEASE_IP: 'SpiderpoolGuardReleasedIP',
  RESTORE_RECORD: 'SpiderpoolGuardRestoredRecord',
  FIX_COUNT: 'SpiderpoolGuardFixedCount',
  DELETE_ENDPOINT: 'SpiderpoolGuardDeletedEndpoint',
};
const CONFLICT_EVENT_REASON = 'SpiderpoolGuardIPConflict';

function actionEvent(a: Action, involvedObject: EventSpec['involvedObject'], namespace: string): EventSpec {
  return {
    namespace,
    involvedObject,
    type: 'Normal',
    reason: EVENT_REASON[a.action],
    action: a.action,
    message: `${a.action} (${a.reason}): ${a.message}`,
  };
}

export class ActionEvents {
  constructor(
    private readonly client: ReconcileClient,
    private readonly log: Logger,
    private readonly enabled: boolean,
  ) {}

  /** Emits a Warning Event on each pod of a conflict the reconciler will not fix. */
  async conflict(f: Finding): Promise<void> {
    if (!this.enabled) return;
    for (const p of f.pods ?? []) {
      const n = splitNsName(p.name);
      if (!n) continue;
      await this.emit({
        namespace: n.namespace,
        involvedObject: { apiVersion: 'v1', kind: 'Pod', name: n.name, namespace: n.namespace, uid: p.uid },
        type: 'Warning',
        reason: CONFLICT_EVENT_REASON,
        action: 'Detect',
        message: `IP_CONFLICT: ${f.message}. Not fixed automatically: restart one of the pods so it gets a fresh IP.`,
      });
    }
  }

  /** After a pool status write: on the pool, and for a restored record on its pod. */
  async poolWritten(a: PoolAction, obj: KubeObject, signal?: AbortSignal): Promise<void> {
    const meta = (obj.metadata ?? {}) as { name?: string; uid?: string };
    await this.emit(
      actionEvent(
        a,
        { apiVersion: SPIDERPOOL_API_VERSION, kind: 'SpiderIPPool', name: meta.name ?? a.pool, uid: meta.uid },
        'default',
      ),
      signal,
    );
    const pod = a.action === 'RESTORE_RECORD' ? a.pods[0] : undefined;
    const n = pod && splitNsName(pod.name);
    if (pod && n)
      await this.emit(
        actionEvent(
          a,
          { apiVersion: 'v1', kind: 'Pod', name: n.name, namespace: n.namespace, uid: pod.uid },
          n.namespace,
        ),
        signal,
      );
  }

  /** After an endpoint delete or finalizer removal. */
  async endpointWritten(a: Action, fe: EndpointFacts, signal?: AbortSignal): Promise<void> {
    const involved = {
      apiVersion: SPIDERPOOL_API_VERSION,
      kind: 'SpiderEndpoint',
      name: fe.name,
      namespace: fe.namespace,
      uid: fe.objectUid,
      resourceVersion: fe.resourceVersion,
    };
    await this.emit(actionEvent(a, involved, fe.namespace), signal);
  }

  /** A failed or aborted emit is logged and dropped (the write it reports has landed either way). */
  private async emit(e: EventSpec, signal?: AbortSignal): Promise<void> {
    if (!this.enabled || signal?.aborted) return;
    try {
      await this.client.createEvent(e, { signal });
    } catch (err) {
      this.log.warn(
        { err, reason: e.reason, object: e.involvedObject },
        `could not emit event ${e.reason}: ${describeApiError(err)}`,
      );
    }
  }
}
