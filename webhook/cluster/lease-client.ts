// LeaseClient against coordination.k8s.io/v1: Lease spec times as epoch milliseconds (MicroTime on the wire). Every
// call takes the elector's AbortSignal: when it fires the HTTP request is aborted (socket destroyed), so a Lease call
// never outlives its timeout even when the connection to the API server hangs.
import * as k8s from '@kubernetes/client-node';
import { CallOptions, LeaseClient, LeaseRecord, StoredLease } from '../model';
import { isNotFound } from '../../lib/api-errors';
import { apiCallOptions, userAgentOf } from './call-options';

function toMillis(t: unknown): number | undefined {
  if (t instanceof Date) return t.getTime();
  if (typeof t === 'string' && t !== '') {
    const ms = Date.parse(t);
    return Number.isNaN(ms) ? undefined : ms;
  }
  return undefined;
}

function fromLease(lease: k8s.V1Lease): StoredLease {
  const s = lease.spec ?? {};
  return {
    record: {
      holderIdentity: s.holderIdentity ?? '',
      leaseDurationSeconds: s.leaseDurationSeconds ?? 0,
      acquireTime: toMillis(s.acquireTime),
      renewTime: toMillis(s.renewTime),
      leaseTransitions: s.leaseTransitions ?? 0,
    },
    resourceVersion: lease.metadata?.resourceVersion ?? '',
  };
}

function toSpec(r: LeaseRecord): k8s.V1LeaseSpec {
  // MicroTime must be sent with microsecond precision; V1MicroTime serialises that way.
  return {
    holderIdentity: r.holderIdentity,
    leaseDurationSeconds: r.leaseDurationSeconds,
    acquireTime: r.acquireTime !== undefined ? new k8s.V1MicroTime(r.acquireTime) : undefined,
    renewTime: r.renewTime !== undefined ? new k8s.V1MicroTime(r.renewTime) : undefined,
    leaseTransitions: r.leaseTransitions,
  };
}

export class KubeLeaseClient implements LeaseClient {
  private readonly api: k8s.CoordinationV1Api;
  private readonly userAgent: string;
  /** @param identity the replica's identity, sent in the User-Agent */
  constructor(kc: k8s.KubeConfig, identity = 'unnamed') {
    this.api = kc.makeApiClient(k8s.CoordinationV1Api);
    this.userAgent = userAgentOf('leader-election', identity);
  }
  async get(namespace: string, name: string, opts?: CallOptions): Promise<StoredLease | null> {
    try {
      return fromLease(await this.api.readNamespacedLease({ name, namespace }, apiCallOptions(this.userAgent, opts)));
    } catch (err) {
      if (isNotFound(err)) return null;
      throw err;
    }
  }
  async create(namespace: string, name: string, record: LeaseRecord, opts?: CallOptions): Promise<StoredLease> {
    const body = { metadata: { name, namespace }, spec: toSpec(record) };
    return fromLease(await this.api.createNamespacedLease({ namespace, body }, apiCallOptions(this.userAgent, opts)));
  }
  async update(
    namespace: string,
    name: string,
    record: LeaseRecord,
    resourceVersion: string,
    opts?: CallOptions,
  ): Promise<StoredLease> {
    const body = { metadata: { name, namespace, resourceVersion }, spec: toSpec(record) };
    return fromLease(
      await this.api.replaceNamespacedLease({ name, namespace, body }, apiCallOptions(this.userAgent, opts)),
    );
  }
}
