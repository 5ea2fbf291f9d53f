// ReconcileClient against the API server: pool status PUTs, SpiderEndpoint deletes with preconditions and
// JSON patches, Events, and by-name fresh reads (ApiFreshReader). A 404 on a read means absent (null). Calls take
// the executor's AbortSignal (fired when leadership is lost): an aborted request is torn down, not sent on later.
import * as k8s from '@kubernetes/client-node';
import {
  KubeObject,
  ENDPOINT_RESOURCE,
  POOL_RESOURCE,
  SPIDERPOOL_GROUP,
  SPIDERPOOL_VERSION,
  FreshObjects,
  ObjectRef,
  EventSpec,
  JsonPatchOp,
  ReconcileClient,
  CallOptions,
} from '../model';
import { apiCallOptions, userAgentOf } from './call-options';
import { ApiFreshReader } from './fresh';
import { EVENT_COMPONENT, eventBody } from './event-body';
import { isNotFound } from '../../lib/api-errors';

const POOL_API = { group: SPIDERPOOL_GROUP, version: SPIDERPOOL_VERSION };

function orNull<T>(p: Promise<T>): Promise<T | null> {
  return p.catch((err: unknown) => {
    if (isNotFound(err)) return null;
    throw err;
  });
}

export class KubeReconcileClient implements ReconcileClient {
  private readonly custom: k8s.CustomObjectsApi;
  private readonly core: k8s.CoreV1Api;
  private readonly fresh: ApiFreshReader;
  private readonly userAgent: string;

  /**
   * @param reportingInstance Events' reportingInstance (the replica: its pod)
   * @param kubevirt read VMIs/VMs live (a 404 means absent either way; false skips the reads when KubeVirt is not served)
   * @param identity named in the User-Agent, so the API server's audit log tells which process wrote (the Lease
   *   identity, unique per process; default: reportingInstance)
   */
  constructor(
    kc: k8s.KubeConfig,
    private readonly reportingInstance = EVENT_COMPONENT,
    kubevirt = true,
    identity = reportingInstance,
  ) {
    this.custom = kc.makeApiClient(k8s.CustomObjectsApi);
    this.core = kc.makeApiClient(k8s.CoreV1Api);
    this.fresh = new ApiFreshReader(kc, kubevirt);
    this.userAgent = userAgentOf('reconciler', identity);
  }

  private opts(opts: CallOptions | undefined) {
    return apiCallOptions(this.userAgent, opts);
  }

  /** Closes the keep-alive connections of the fresh reads. */
  close(): void {
    this.fresh.close();
  }

  read(refs: ObjectRef[]): Promise<FreshObjects> {
    return this.fresh.read(refs);
  }
  getPool(name: string, opts?: CallOptions) {
    return orNull(
      this.custom.getClusterCustomObject(
        { ...POOL_API, plural: POOL_RESOURCE, name },
        this.opts(opts),
      ) as Promise<KubeObject>,
    );
  }
  async replacePoolStatus(name: string, body: KubeObject, opts?: CallOptions) {
    return (await this.custom.replaceClusterCustomObjectStatus(
      { ...POOL_API, plural: POOL_RESOURCE, name, body },
      this.opts(opts),
    )) as KubeObject;
  }
  getEndpoint(namespace: string, name: string, opts?: CallOptions) {
    return orNull(
      this.custom.getNamespacedCustomObject(
        { ...POOL_API, namespace, plural: ENDPOINT_RESOURCE, name },
        this.opts(opts),
      ) as Promise<KubeObject>,
    );
  }
  async deleteEndpoint(
    namespace: string,
    name: string,
    preconditions: { uid: string; resourceVersion: string },
    opts?: CallOptions,
  ) {
    await this.custom.deleteNamespacedCustomObject(
      { ...POOL_API, namespace, plural: ENDPOINT_RESOURCE, name, body: { preconditions } },
      this.opts(opts),
    );
  }
  async patchEndpoint(namespace: string, name: string, ops: JsonPatchOp[], opts?: CallOptions) {
    return (await this.custom.patchNamespacedCustomObject(
      { ...POOL_API, namespace, plural: ENDPOINT_RESOURCE, name, body: ops },
      apiCallOptions(this.userAgent, opts, k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.JsonPatch)),
    )) as KubeObject;
  }
  async createEvent(e: EventSpec, opts?: CallOptions) {
    await this.core.createNamespacedEvent(
      { namespace: e.namespace, body: eventBody(e, this.reportingInstance, new Date()) },
      this.opts(opts),
    );
  }
}
