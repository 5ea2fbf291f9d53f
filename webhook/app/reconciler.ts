// The reconciler with its API clients: builds the ReconcileClient and the LeaseClient from a kubeconfig (unless the
// caller passes its own) and starts the reconciler on them; stop() closes the clients it built.
//
//   const r = startReconciler({ source: cache, kubeConfig: kc, namespace: 'kube-system', log, registry });
//   ...
//   await r.stop();   // on SIGTERM: releases the lease
import type { KubeConfig } from '@kubernetes/client-node';
import { KubeLeaseClient, KubeReconcileClient } from '../cluster';
import type { LeaseClient, ReconcileClient } from '../model';
import {
  podInstance,
  processIdentity,
  startReconcilerOnPorts,
  type Reconciler,
  type ReconcilerSettings,
} from '../reconciler';

export interface ReconcilerOptions extends ReconcilerSettings {
  /** API access for writes, fresh reads, Events and the Lease */
  kubeConfig: KubeConfig;
  /** this process's identity in the Lease (default: `<$POD_NAME or hostname>_<uuid>`, see processIdentity) */
  identity?: string;
  /** whether the kubevirt.io API is served (fresh VMI/VM reads; default true, a 404 reads as absent) */
  kubevirt?: boolean;
  /** overrides for tests */
  client?: ReconcileClient;
  leaseClient?: LeaseClient;
}

/** Starts the reconciler (see reconciler/start.ts) on API clients built from opts.kubeConfig. */
export function startReconciler(opts: ReconcilerOptions): Reconciler {
  const identity = opts.identity ?? processIdentity();
  const client =
    opts.client ?? new KubeReconcileClient(opts.kubeConfig, podInstance(), opts.kubevirt ?? true, identity);
  const leaseClient =
    opts.leaderElection === false ? undefined : (opts.leaseClient ?? new KubeLeaseClient(opts.kubeConfig, identity));
  const reconciler = startReconcilerOnPorts({ ...opts, identity, client, leaseClient });
  return {
    ...reconciler,
    async stop() {
      await reconciler.stop();
      if (!opts.client) client.close?.();
    },
  };
}
