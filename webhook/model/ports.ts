// Ports: what the decision code needs from the API server, described in the model's own words. Adapters that
// implement them against a real API server live in webhook/cluster/; unit tests implement them with fakes.
import { KubeObject } from './trim';
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
  involvedObject: { apiVersion: string; kind: string; name: string; namespace?: string; uid?: string; resourceVersion?: string };
  type: 'Normal' | 'Warning';
  reason: string;
  action: string;
  message: string;
}

/** What the reconciler's executor needs from the API server. */
export interface ReconcileClient extends FreshReader {
  getPool(name: string): Promise<KubeObject | null>;
  replacePoolStatus(name: string, body: KubeObject): Promise<KubeObject>;
  getEndpoint(namespace: string, name: string): Promise<KubeObject | null>;
  deleteEndpoint(namespace: string, name: string, preconditions: { uid: string; resourceVersion: string }): Promise<void>;
  patchEndpoint(namespace: string, name: string, ops: JsonPatchOp[]): Promise<KubeObject>;
  createEvent(event: EventSpec): Promise<void>;
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

/** Lease access; errors carry the HTTP status as `.code` (409 = lost the race, 404 = absent). */
export interface LeaseClient {
  get(namespace: string, name: string): Promise<StoredLease | null>;
  create(namespace: string, name: string, record: LeaseRecord): Promise<StoredLease>;
  update(namespace: string, name: string, record: LeaseRecord, resourceVersion: string): Promise<StoredLease>;
}
