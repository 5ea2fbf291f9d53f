// Ports: what the decision code needs from the API server, described in the model's own words. Adapters that
// implement them against a real API server live in webhook/cluster/; unit tests implement them with fakes.
import { KubeObject } from './object-facts';
import { FreshObjects, ObjectRef } from './view';

/**
 * Reads objects live from the API server (serve mode). Absent objects come back as null. `signal` aborts the wait
 * (the decision's deadline); the read rejects then.
 */
export interface FreshReader {
  read(refs: ObjectRef[], signal?: AbortSignal): Promise<FreshObjects>;
}

export interface JsonPatchOp {
  op: 'test' | 'remove' | 'add' | 'replace';
  path: string;
  value?: unknown;
}

export interface EventSpec {
  /** namespace of the Event (the object's; "default" for cluster-scoped objects) */
  namespace: string;
  involvedObject: {
    apiVersion: string;
    kind: string;
    name: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
  };
  type: 'Normal' | 'Warning';
  reason: string;
  action: string;
  message: string;
}

/**
 * How a call may be cut short. An aborted signal makes the adapter abort the HTTP request itself (the connection is
 * closed, nothing more is sent) and reject; a leader that lost its lease aborts its writes this way.
 */
export interface CallOptions {
  signal?: AbortSignal;
}

/**
 * Kubernetes Events about admission decisions, fire-and-forget: publish() returns at once and never throws; the
 * adapter aggregates, rate-limits and writes in the background, so no decision waits for (or fails with) an Event.
 */
export interface EventPublisher {
  publish(event: EventSpec): void;
}

/**
 * A denial resting on an alive pod whose record is missing: the IP, its pool and the pod ("ns/name") that holds it.
 * The reconciler's leader restores the record at once (docs/rules.md, Reconciler actions, heal on denial).
 */
export interface HealRequest {
  pool: string;
  ip: string;
  pod: string;
  /** the rule that denied (DOUBLE_ALLOCATION or ENDPOINT_IP_CONFLICT) */
  rule: string;
}

/** Takes heal requests without waiting: the caller (an admission decision) never blocks on the pass. */
export interface HealRequester {
  requestHeal(request: HealRequest): void;
}

/** What the reconciler's executor needs from the API server. */
export interface ReconcileClient extends FreshReader {
  getPool(name: string, opts?: CallOptions): Promise<KubeObject | null>;
  replacePoolStatus(name: string, body: KubeObject, opts?: CallOptions): Promise<KubeObject>;
  getEndpoint(namespace: string, name: string, opts?: CallOptions): Promise<KubeObject | null>;
  deleteEndpoint(
    namespace: string,
    name: string,
    preconditions: { uid: string; resourceVersion: string },
    opts?: CallOptions,
  ): Promise<void>;
  patchEndpoint(namespace: string, name: string, ops: JsonPatchOp[], opts?: CallOptions): Promise<KubeObject>;
  createEvent(event: EventSpec, opts?: CallOptions): Promise<void>;
  /** releases connections (keep-alive fresh reads) */
  close?(): void;
}

/** The Lease spec fields leader election uses; times in epoch milliseconds. */
export interface LeaseRecord {
  holderIdentity: string;
  leaseDurationSeconds: number;
  acquireTime?: number;
  renewTime?: number;
  leaseTransitions: number;
}

export interface StoredLease {
  record: LeaseRecord;
  resourceVersion: string;
}

/**
 * Lease access; errors carry the HTTP status as `.code` (409 = lost the race, 404 = absent). Leader election passes
 * a signal on every call so that no call outlives its timeout (shorter than the renew deadline).
 */
export interface LeaseClient {
  get(namespace: string, name: string, opts?: CallOptions): Promise<StoredLease | null>;
  create(namespace: string, name: string, record: LeaseRecord, opts?: CallOptions): Promise<StoredLease>;
  update(
    namespace: string,
    name: string,
    record: LeaseRecord,
    resourceVersion: string,
    opts?: CallOptions,
  ): Promise<StoredLease>;
}
