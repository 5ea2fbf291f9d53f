/**
 * Programmatic API of the test bed (what tests and scripts use).
 *
 *   const tb = await startTestbed();            // builds binaries if needed, starts etcd+apiserver+kcm, waits
 *   const kc = tb.kubeConfig();                 // admin (system:masters) KubeConfig
 *   const agent = tb.asServiceAccount('kube-system', 'spiderpool-agent');   // impersonating KubeConfig
 *   await tb.stop();
 *
 * or, for a test bed started elsewhere (CLI `up`, jest globalSetup): connectTestbed(kubeconfigPath).
 *
 * Impersonation: the admin user is in system:masters, so it may impersonate anyone. impersonatingKubeConfig()
 * sets client-node's `impersonateUser` (kubeconfig `as`, sent as the Impersonate-User header) and, for one group,
 * an Impersonate-Group header. Impersonating a service-account user name without groups makes the API server add
 * the service-account groups itself (system:serviceaccounts, system:serviceaccounts:<ns>) plus system:authenticated,
 * exactly as for a real token. client-node can send each header only once, so several explicit groups are not
 * possible through impersonation: use clientCertKubeConfig() (a client certificate signed by the test bed's CA,
 * CN = user, O = groups) instead.
 */
import * as k8s from '@kubernetes/client-node';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { launchTestbed, killTestbedSync, stopTestbed, type LaunchOptions } from './lifecycle';
import { issueClientCert } from './pki';
import { readState, type TestbedState } from './state';
import { log } from './util';

export { ensureBinaries, ensureHelm, ensureKubernetesBinaries, ensureEtcd } from './binaries';
export type { LaunchOptions } from './lifecycle';
export type { TestbedState } from './state';

/** Service accounts of Spiderpool (chart defaults) that exist in every test bed, bound to cluster-admin. */
export const SPIDERPOOL_AGENT = { namespace: 'kube-system', name: 'spiderpool-agent' } as const;
export const SPIDERPOOL_CONTROLLER = { namespace: 'kube-system', name: 'spiderpool-controller' } as const;

export function serviceAccountUser(namespace: string, name: string): string {
  return `system:serviceaccount:${namespace}:${name}`;
}

export interface Testbed {
  /** Admin kubeconfig file (embedded credentials; usable by kubectl and client-node). */
  readonly kubeconfigPath: string;
  /** https://127.0.0.1:<port> */
  readonly apiserverUrl: string;
  /** The state directory (PKI, logs, audit log) when known (always for test beds of this machine). */
  readonly stateDir: string | undefined;
  /** kube-apiserver audit log (Metadata level for spiderpool.spidernet.io requests), when known. */
  readonly auditLogPath: string | undefined;
  /** Names of the Node objects (node-1..node-N). */
  readonly nodes: string[];
  /** A fresh admin KubeConfig (system:masters). */
  kubeConfig(): k8s.KubeConfig;
  /** A KubeConfig acting as `user` through impersonation (at most one explicit group, see module doc). */
  impersonating(user: string, groups?: string[]): k8s.KubeConfig;
  /** A KubeConfig acting as system:serviceaccount:<namespace>:<name> (service-account groups added by the API server). */
  asServiceAccount(namespace: string, name: string): k8s.KubeConfig;
  /** A KubeConfig authenticating with a freshly minted client certificate for `user` in `groups` (needs stateDir). */
  clientCertKubeConfig(user: string, groups?: string[]): Promise<k8s.KubeConfig>;
  /** Stops the test bed if this handle started it (connectTestbed handles do nothing unless `owned`). */
  stop(): Promise<void>;
}

/** Loads a KubeConfig from a kubeconfig file. */
export function loadKubeConfig(kubeconfigPath: string): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(kubeconfigPath);
  return kc;
}

/**
 * A copy of `base` whose current user impersonates `user` (and optionally one group). Requests carry
 * `Impersonate-User` (client-node `impersonateUser`) and `Impersonate-Group` headers; the base user must be
 * allowed to impersonate (the test bed admin is).
 */
export function impersonatingKubeConfig(base: k8s.KubeConfig, user: string, groups: string[] = []): k8s.KubeConfig {
  if (groups.length > 1) {
    throw new Error(
      'client-node sends a header only once: impersonate at most one group, or use clientCertKubeConfig() for several',
    );
  }
  const cluster = base.getCurrentCluster();
  const baseUser = base.getCurrentUser();
  if (!cluster || !baseUser) throw new Error('base KubeConfig has no current cluster/user');
  const name = `${baseUser.name}-as-${user}${groups.length ? `-${groups[0]}` : ''}`;
  const kc = new k8s.KubeConfig();
  kc.loadFromOptions({
    clusters: [cluster],
    users: [{ ...baseUser, name, impersonateUser: user }],
    contexts: [{ name, cluster: cluster.name, user: name }],
    currentContext: name,
  });
  if (groups.length === 1) {
    const group = groups[0];
    // The authenticator applies to our user only; it runs for every request and adds the group header.
    kc.addAuthenticator({
      isAuthProvider: (u) => u.name === name,
      applyAuthentication: async (_u, opts) => {
        const o = opts as { headers?: Record<string, string | string[] | number | undefined> };
        o.headers = { ...(o.headers ?? {}), 'Impersonate-Group': group };
      },
    });
  }
  return kc;
}

/** A KubeConfig with a client certificate (CN=user, O=groups) signed by the test bed CA found in `pkiDir`. */
export async function clientCertKubeConfigFor(
  base: k8s.KubeConfig,
  pkiDir: string,
  user: string,
  groups: string[] = [],
): Promise<k8s.KubeConfig> {
  const cluster = base.getCurrentCluster();
  if (!cluster) throw new Error('base KubeConfig has no current cluster');
  const { cert, key } = await issueClientCert(pkiDir, user, groups);
  const name = `cert-${user}`;
  const kc = new k8s.KubeConfig();
  kc.loadFromOptions({
    clusters: [cluster],
    users: [{ name, certData: Buffer.from(cert).toString('base64'), keyData: Buffer.from(key).toString('base64') }],
    contexts: [{ name, cluster: cluster.name, user: name }],
    currentContext: name,
  });
  return kc;
}

class TestbedHandle implements Testbed {
  private stopped = false;
  constructor(
    readonly kubeconfigPath: string,
    readonly apiserverUrl: string,
    readonly stateDir: string | undefined,
    readonly auditLogPath: string | undefined,
    readonly nodes: string[],
    private readonly owned: boolean,
    private readonly onStop: () => void = () => {},
  ) {}

  kubeConfig(): k8s.KubeConfig {
    return loadKubeConfig(this.kubeconfigPath);
  }

  impersonating(user: string, groups: string[] = []): k8s.KubeConfig {
    return impersonatingKubeConfig(this.kubeConfig(), user, groups);
  }

  asServiceAccount(namespace: string, name: string): k8s.KubeConfig {
    return this.impersonating(serviceAccountUser(namespace, name));
  }

  async clientCertKubeConfig(user: string, groups: string[] = []): Promise<k8s.KubeConfig> {
    if (!this.stateDir)
      throw new Error('clientCertKubeConfig needs the test bed state directory (PKI); set SPG_TESTBED_STATE_DIR');
    return clientCertKubeConfigFor(this.kubeConfig(), path.join(this.stateDir, 'pki'), user, groups);
  }

  async stop(): Promise<void> {
    if (!this.owned || this.stopped || !this.stateDir) return;
    this.stopped = true;
    this.onStop();
    await stopTestbed(this.stateDir);
  }
}

export interface StartOptions extends LaunchOptions {
  /**
   * Stop the test bed when this process exits, and on SIGINT/SIGTERM/SIGHUP (default true). The supervisor
   * additionally watches this process (watchPid) so even a SIGKILL leaves nothing behind.
   */
  stopOnExit?: boolean;
}

/** Starts a test bed (see LaunchOptions) and returns a handle that owns it. */
export async function startTestbed(opts: StartOptions = {}): Promise<Testbed> {
  const stopOnExit = opts.stopOnExit ?? true;
  const state = await launchTestbed({ ...opts, watchPid: opts.watchPid ?? (stopOnExit ? process.pid : undefined) });
  let cleanup = () => {};
  if (stopOnExit) {
    const onExit = () => killTestbedSync(state);
    const onSignal = (sig: NodeJS.Signals) => {
      log('testbed', `${sig}: stopping test bed`);
      void stopTestbed(state.stateDir).finally(() => process.exit(sig === 'SIGINT' ? 130 : 143));
    };
    process.once('exit', onExit);
    const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
    for (const s of signals) process.once(s, onSignal);
    cleanup = () => {
      process.removeListener('exit', onExit);
      for (const s of signals) process.removeListener(s, onSignal);
    };
  }
  return handleFromState(state, true, cleanup);
}

function handleFromState(state: TestbedState, owned: boolean, onStop?: () => void): Testbed {
  return new TestbedHandle(
    state.kubeconfigPath,
    state.apiserverUrl,
    state.stateDir,
    state.auditLogPath,
    state.nodes,
    owned,
    onStop,
  );
}

/**
 * A handle on a running test bed given its kubeconfig (e.g. from SPG_TESTBED_KUBECONFIG). The state directory is
 * `stateDir`, or SPG_TESTBED_STATE_DIR, or the kubeconfig's directory when it holds a state.json. Not owned:
 * stop() does nothing.
 */
export function connectTestbed(kubeconfigPath: string, stateDir?: string): Testbed {
  const dir = stateDir ?? process.env.SPG_TESTBED_STATE_DIR ?? path.dirname(path.resolve(kubeconfigPath));
  const state = fs.existsSync(path.join(dir, 'state.json')) ? readState(dir) : undefined;
  if (state) return handleFromState({ ...state, kubeconfigPath: path.resolve(kubeconfigPath) }, false);
  const kc = loadKubeConfig(kubeconfigPath);
  const server = kc.getCurrentCluster()?.server ?? '';
  return new TestbedHandle(path.resolve(kubeconfigPath), server, undefined, undefined, [], false);
}
