/**
 * The cluster itself: etcd + kube-apiserver + kube-controller-manager as child processes of the calling process
 * (the supervisor, see supervisor.ts), plus the bootstrap objects every test bed has:
 *
 *  - PKI (pki.ts), admin kubeconfig (system:masters client certificate, so it may impersonate anyone);
 *  - ServiceAccounts kube-system/spiderpool-agent and kube-system/spiderpool-controller, bound to cluster-admin
 *    (ClusterRoleBinding `spiderpool-testbed`), so tests can act as them through impersonation;
 *  - Nodes node-1..node-N, Ready through the status subresource (no kubelet runs: pods stay Pending unless a
 *    test binds them and writes `pods/status`);
 *  - the SpiderIPPool, SpiderEndpoint and SpiderReservedIP CRDs and minimal KubeVirt VirtualMachineInstance and
 *    VirtualMachine CRDs from testbed/crds/, waited for until Established and served.
 *
 * kube-controller-manager runs the controllers that turn workloads into pods (deployment, replicaset,
 * statefulset, job, cronjob, daemonset), garbage collection, namespace deletion, ttl-after-finished, the
 * serviceaccount controllers and the root CA publisher, each with its own service-account credentials (as in a
 * real cluster: the garbage collector acts as system:serviceaccount:kube-system:generic-garbage-collector).
 * The node-lifecycle and pod-GC controllers are NOT run: with no kubelet they would mark nodes unreachable and
 * evict/delete pods.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { createPki, type Pki } from './pki';
import { canRunPods, createNetwork, removeNetwork, RUNNER_NODE, type TestbedNetwork } from './runner/network';
import { writeState, type SupervisorConfig, type TestbedState } from './state';
import { webhookClientFlag } from './webhook-client';
import { formatDuration, freePorts, log, runOk, sleep, writeFileAtomic } from './util';

export const CRD_DIR = path.join(__dirname, 'crds');
export const CRD_NAMES = [
  'spiderippools.spiderpool.spidernet.io',
  'spiderendpoints.spiderpool.spidernet.io',
  'spiderreservedips.spiderpool.spidernet.io',
  'virtualmachineinstances.kubevirt.io',
  'virtualmachines.kubevirt.io',
];
export const SPIDERPOOL_SERVICE_ACCOUNTS = ['spiderpool-agent', 'spiderpool-controller'];
export const SPIDERPOOL_NAMESPACE = 'kube-system';

/** Controllers kube-controller-manager runs in the test bed (names as in `kube-controller-manager --help`). */
export const CONTROLLERS = [
  'serviceaccount-token-controller',
  'serviceaccount-controller',
  'root-ca-certificate-publisher-controller',
  'namespace-controller',
  'garbage-collector-controller',
  'deployment-controller',
  'replicaset-controller',
  'statefulset-controller',
  'daemonset-controller',
  'job-controller',
  'cronjob-controller',
  'ttl-after-finished-controller',
  'disruption-controller',
  'clusterrole-aggregation-controller',
  // EndpointSlices for Services: the API server resolves webhook Services to pod IPs from them
  // (--enable-aggregator-routing), and the runner's ClusterIP proxy forwards to them.
  'endpointslice-controller',
];

export interface Credentials {
  ca: Buffer;
  cert: Buffer;
  key: Buffer;
}

export interface HttpResult {
  status: number;
  body: string;
}

/** A plain HTTPS request to the API server with client-certificate credentials (bootstrap and health checks). */
export function kubeRequest(
  baseUrl: string,
  creds: Credentials | undefined,
  method: string,
  urlPath: string,
  body?: unknown,
  contentType = 'application/json',
): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const url = new URL(urlPath, baseUrl);
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const mod = url.protocol === 'http:' ? http : https;
    const req = mod.request(
      url,
      {
        method,
        headers: {
          Accept: 'application/json',
          ...(payload ? { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(payload) } : {}),
        },
        ...(url.protocol === 'https:'
          ? creds
            ? { ca: creds.ca, cert: creds.cert, key: creds.key }
            : { rejectUnauthorized: false }
          : {}),
        timeout: 10000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`timeout: ${method} ${url.href}`)));
    req.on('error', reject);
    if (payload) req.write(payload);
    req.end();
  });
}

/** Kubeconfig YAML (JSON is valid YAML) with embedded CA and client certificate. */
export function kubeconfigYaml(server: string, user: string, caPem: string, certPem: string, keyPem: string): string {
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  const cfg = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'testbed', cluster: { server, 'certificate-authority-data': b64(caPem) } }],
    users: [{ name: user, user: { 'client-certificate-data': b64(certPem), 'client-key-data': b64(keyPem) } }],
    contexts: [{ name: 'testbed', context: { cluster: 'testbed', user } }],
    'current-context': 'testbed',
    preferences: {},
  };
  return JSON.stringify(cfg, null, 2) + '\n';
}

const AUDIT_POLICY = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
  # Everything that touches Spiderpool objects (incl. spiderippools/status) at Metadata level: the event carries
  # the user, the response code and the admission webhooks' auditAnnotations.
  - level: Metadata
    resources:
      - group: spiderpool.spidernet.io
  # Every other request of a service account outside kube-system (a guard installed by its chart runs as one):
  # user and response code, so RBAC can be proven by use (0 responses with code 403).
  - level: None
    userGroups: ["system:serviceaccounts:kube-system"]
  - level: Metadata
    userGroups: ["system:serviceaccounts"]
  - level: None
`;

/** Written by lifecycle.ts restartApiserver beside the state: how long the killed API server stays down. */
export const RESTART_REQUEST_FILE = 'apiserver-restart.json';

export class ClusterFailure extends Error {}

/**
 * Runs one test bed in this process. start() brings everything up and resolves when ready; stop() takes it
 * down in order (controller-manager, apiserver, etcd), SIGKILLing what does not exit within a grace period.
 * If a child dies unexpectedly, onChildExit fires (the supervisor then stops everything).
 */
export class Cluster {
  readonly state: TestbedState;
  private readonly children = new Map<string, ChildProcess>();
  private failure: Error | undefined;
  private stopping = false;
  /** children killed on purpose (restartApiserver): their exit is not a failure */
  private readonly expectedExits = new WeakSet<ChildProcess>();
  private apiserverArgs: string[] = [];
  onChildExit: (name: string, err: Error) => void = () => {};

  constructor(private readonly config: SupervisorConfig) {
    const stateDir = config.stateDir;
    this.state = {
      name: config.name,
      phase: 'starting',
      supervisorPid: process.pid,
      pgid: process.pid,
      pids: {},
      ports: { etcdClient: 0, etcdPeer: 0, apiserver: 0, controllerManager: 0 },
      apiserverUrl: '',
      kubeconfigPath: path.join(stateDir, 'kubeconfig'),
      stateDir,
      pkiDir: path.join(stateDir, 'pki'),
      auditLogPath: path.join(stateDir, 'audit.log'),
      logsDir: path.join(stateDir, 'logs'),
      binaries: config.binaries,
      nodes: Array.from({ length: config.nodes }, (_, i) => `node-${i + 1}`),
      startedAt: new Date().toISOString(),
      watchPid: config.watchPid,
    };
  }

  /** The pod network, when this test bed runs pods (root with iproute2, unless SupervisorConfig.runPods is false). */
  private net: TestbedNetwork | undefined;

  private save(): void {
    writeState(this.state);
  }

  private spawnChild(name: string, bin: string, args: string[]): ChildProcess {
    const logFile = path.join(this.state.logsDir, `${name}.log`);
    const fd = fs.openSync(logFile, 'a');
    log(name, `starting (log: ${logFile})`);
    // Not detached: children stay in the supervisor's process group, so `kill -- -<pgid>` reaches all of them.
    const child = spawn(bin, args, { stdio: ['ignore', fd, fd], cwd: this.state.stateDir });
    fs.closeSync(fd);
    this.children.set(name, child);
    child.on('error', (err) => this.childFailed(name, err));
    child.on('exit', (code, signal) => {
      if (this.stopping || this.expectedExits.has(child)) return;
      this.childFailed(
        name,
        new ClusterFailure(
          `${name} exited unexpectedly (${signal ?? `exit ${code}`}); last log lines:\n${tail(logFile, 25)}`,
        ),
      );
    });
    return child;
  }

  private childFailed(name: string, err: Error): void {
    if (this.stopping || this.failure) return;
    this.failure = err;
    log(name, err.message);
    this.onChildExit(name, err);
  }

  private async waitFor(what: string, timeoutMs: number, probe: () => Promise<boolean>): Promise<void> {
    const start = Date.now();
    let lastErr = '';
    let lastNote = start;
    for (;;) {
      if (this.failure) throw this.failure;
      try {
        if (await probe()) {
          log('wait', `${what}: ok after ${formatDuration(Date.now() - start)}`);
          return;
        }
      } catch (err) {
        lastErr = err instanceof Error ? err.message : String(err);
      }
      if (Date.now() - start > timeoutMs)
        throw new ClusterFailure(
          `timed out after ${formatDuration(timeoutMs)} waiting for ${what}${lastErr ? `: ${lastErr}` : ''}`,
        );
      if (Date.now() - lastNote > 15000) {
        lastNote = Date.now();
        log(
          'wait',
          `${what}: still waiting (${formatDuration(Date.now() - start)})${lastErr ? ` last error: ${lastErr}` : ''}`,
        );
      }
      await sleep(250);
    }
  }

  async start(): Promise<TestbedState> {
    const start = Date.now();
    const st = this.state;
    fs.mkdirSync(st.logsDir, { recursive: true });
    this.save();

    if (this.config.runPods !== false && canRunPods()) {
      this.net = await createNetwork(st.stateDir);
      st.network = this.net;
      log(
        'network',
        `bridge ${this.net.bridge} ${this.net.gatewayIp}; pods ${this.net.podCidr}, services ${this.net.serviceCidr}`,
      );
    }
    const serviceCidr = this.net?.serviceCidr ?? '10.96.0.0/16';
    const pki = await createPki(
      st.pkiDir,
      this.net ? [this.net.gatewayIp, firstServiceIp(serviceCidr)] : [firstServiceIp(serviceCidr)],
    );
    const [etcdClient, etcdPeer, apiserver, controllerManager] = await freePorts(4);
    st.ports = { etcdClient, etcdPeer, apiserver, controllerManager };
    st.apiserverUrl = `https://127.0.0.1:${apiserver}`;
    this.save();

    // etcd
    const etcdData = path.join(st.stateDir, 'etcd-data');
    fs.mkdirSync(etcdData, { recursive: true, mode: 0o700 });
    const etcd = this.spawnChild('etcd', st.binaries.etcd, [
      '--name=testbed',
      `--data-dir=${etcdData}`,
      `--listen-client-urls=http://127.0.0.1:${etcdClient}`,
      `--advertise-client-urls=http://127.0.0.1:${etcdClient}`,
      `--listen-peer-urls=http://127.0.0.1:${etcdPeer}`,
      `--initial-advertise-peer-urls=http://127.0.0.1:${etcdPeer}`,
      `--initial-cluster=testbed=http://127.0.0.1:${etcdPeer}`,
      '--initial-cluster-state=new',
      '--unsafe-no-fsync=true', // test data only: no fsync makes writes much faster on a shared disk
      '--quota-backend-bytes=2147483648',
      // etcd's default request limit (1.5 MiB) is also the real limit on a pool's size: a 16,384-record pool is
      // about 1.7 MB stored. The admission benchmark raises it (SPG_ETCD_MAX_REQUEST_BYTES) to test such pools.
      ...(process.env.SPG_ETCD_MAX_REQUEST_BYTES
        ? [`--max-request-bytes=${Number(process.env.SPG_ETCD_MAX_REQUEST_BYTES)}`]
        : []),
      '--log-level=warn',
    ]);
    st.pids.etcd = etcd.pid;
    this.save();
    await this.waitFor('etcd /health', 60000, async () => {
      const res = await kubeRequest(`http://127.0.0.1:${etcdClient}`, undefined, 'GET', '/health');
      return res.status === 200 && res.body.includes('"health":"true"');
    });

    // kube-apiserver
    const auditPolicy = path.join(st.stateDir, 'audit-policy.yaml');
    fs.writeFileSync(auditPolicy, AUDIT_POLICY);
    this.apiserverArgs = [
      `--etcd-servers=http://127.0.0.1:${etcdClient}`,
      // With pods, also on the bridge address: inside a pod's namespace 127.0.0.1 is the pod's own loopback.
      `--bind-address=${this.net ? '0.0.0.0' : '127.0.0.1'}`,
      '--advertise-address=127.0.0.1',
      // Webhook (and aggregated API) Services resolve to an EndpointSlice address instead of the ClusterIP,
      // which nothing on this machine routes; calls then reach the pods the way kube-proxy would have sent them.
      '--enable-aggregator-routing=true',
      `--secure-port=${apiserver}`,
      `--tls-cert-file=${pki.servingCert}`,
      `--tls-private-key-file=${pki.servingKey}`,
      `--client-ca-file=${pki.caCert}`,
      '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
      `--service-account-key-file=${pki.saPublicKey}`,
      `--service-account-signing-key-file=${pki.saPrivateKey}`,
      `--service-cluster-ip-range=${serviceCidr}`,
      '--authorization-mode=Node,RBAC',
      // Added to the defaults (which already include ServiceAccount, NamespaceLifecycle, PodSecurity, ...).
      '--enable-admission-plugins=NodeRestriction,MutatingAdmissionWebhook,ValidatingAdmissionWebhook',
      '--allow-privileged=true',
      // 127.0.0.1 is not a valid Endpoints address: do not maintain the `kubernetes` Service endpoints.
      '--endpoint-reconciler-type=none',
      `--audit-policy-file=${auditPolicy}`,
      `--audit-log-path=${st.auditLogPath}`,
      '--audit-log-maxsize=200',
      '--profiling=false',
      `--cert-dir=${path.join(st.stateDir, 'apiserver-certs')}`,
      webhookClientFlag(st.stateDir, pki),
      ...(this.config.apiserverFeatureGates ? [`--feature-gates=${this.config.apiserverFeatureGates}`] : []),
    ];
    const apiserverProc = this.spawnChild('kube-apiserver', st.binaries.kubeApiserver, this.apiserverArgs);
    st.pids.kubeApiserver = apiserverProc.pid;
    this.save();
    const creds: Credentials = {
      ca: fs.readFileSync(pki.caCert),
      cert: fs.readFileSync(pki.adminCert),
      key: fs.readFileSync(pki.adminKey),
    };
    await this.waitFor(
      'kube-apiserver /readyz',
      180000,
      async () => (await kubeRequest(st.apiserverUrl, creds, 'GET', '/readyz')).status === 200,
    );

    const caPem = fs.readFileSync(pki.caCert, 'utf8');
    writeFileAtomic(
      st.kubeconfigPath,
      kubeconfigYaml(
        st.apiserverUrl,
        'testbed-admin',
        caPem,
        fs.readFileSync(pki.adminCert, 'utf8'),
        fs.readFileSync(pki.adminKey, 'utf8'),
      ),
      0o600,
    );
    const kcmKubeconfig = path.join(st.stateDir, 'kube-controller-manager.kubeconfig');
    writeFileAtomic(
      kcmKubeconfig,
      kubeconfigYaml(
        st.apiserverUrl,
        'system:kube-controller-manager',
        caPem,
        fs.readFileSync(pki.kcmCert, 'utf8'),
        fs.readFileSync(pki.kcmKey, 'utf8'),
      ),
      0o600,
    );

    // kube-controller-manager (starts while we bootstrap objects and CRDs)
    const kcm = this.spawnChild('kube-controller-manager', st.binaries.kubeControllerManager, [
      `--kubeconfig=${kcmKubeconfig}`,
      '--bind-address=127.0.0.1',
      `--secure-port=${controllerManager}`,
      `--cert-dir=${path.join(st.stateDir, 'kcm-certs')}`,
      '--leader-elect=false',
      '--use-service-account-credentials=true',
      `--service-account-private-key-file=${pki.saPrivateKey}`,
      `--root-ca-file=${pki.caCert}`,
      `--controllers=${(this.config.controllers ?? CONTROLLERS).join(',')}`,
      '--kube-api-qps=100',
      '--kube-api-burst=200',
      '--concurrent-statefulset-syncs=5',
      '--concurrent-gc-syncs=20',
    ]);
    st.pids.kubeControllerManager = kcm.pid;
    this.save();

    await this.bootstrapObjects(creds, pki);
    await this.installCrds(creds);
    await this.waitFor(
      'kube-controller-manager /healthz',
      120000,
      async () =>
        (await kubeRequest(`https://127.0.0.1:${controllerManager}`, undefined, 'GET', '/healthz')).status === 200,
    );
    // The serviceaccount controller creating `default` proves kube-controller-manager is up and authorized.
    await this.waitFor(
      'ServiceAccount default/default (kube-controller-manager working)',
      120000,
      async () =>
        (await kubeRequest(st.apiserverUrl, creds, 'GET', '/api/v1/namespaces/default/serviceaccounts/default'))
          .status === 200,
    );

    if (this.net) await this.startRunner(creds);

    st.phase = 'ready';
    st.readyAt = new Date().toISOString();
    st.startupSeconds = Math.round((Date.now() - start) / 100) / 10;
    this.save();
    log(
      'cluster',
      `ready in ${formatDuration(Date.now() - start)}: ${st.apiserverUrl}, kubeconfig ${st.kubeconfigPath}`,
    );
    return st;
  }

  /** The process runner (runner/main.ts): the test bed's kubelet stand-in. Ready once its Node is Ready. */
  private async startRunner(creds: Credentials): Promise<void> {
    const st = this.state;
    const net = this.net!;
    const config = { kubeconfigPath: st.kubeconfigPath, stateDir: st.stateDir, net, apiserverPort: st.ports.apiserver };
    const tsx = pathToFileURL(require.resolve('tsx')).href;
    const runner = this.spawnChild('runner', process.execPath, [
      '--import',
      tsx,
      path.join(__dirname, 'runner', 'main.ts'),
      JSON.stringify(config),
    ]);
    st.pids.runner = runner.pid;
    this.save();
    await this.waitFor(`Node ${RUNNER_NODE} Ready (process runner)`, 60000, async () => {
      const res = await kubeRequest(st.apiserverUrl, creds, 'GET', `/api/v1/nodes/${RUNNER_NODE}`);
      if (res.status !== 200) return false;
      const node = JSON.parse(res.body) as { status?: { conditions?: { type: string; status: string }[] } };
      return (node.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');
    });
  }

  private async bootstrapObjects(creds: Credentials, _pki: Pki): Promise<void> {
    const st = this.state;
    const create = async (
      urlPath: string,
      obj: Record<string, unknown> & { metadata: Record<string, unknown> & { name: string } },
    ) => {
      const res = await kubeRequest(st.apiserverUrl, creds, 'POST', urlPath, obj);
      if (res.status !== 201 && res.status !== 409)
        throw new ClusterFailure(`POST ${urlPath} ${obj.metadata.name}: HTTP ${res.status} ${res.body}`);
    };
    for (const sa of SPIDERPOOL_SERVICE_ACCOUNTS) {
      await create(`/api/v1/namespaces/${SPIDERPOOL_NAMESPACE}/serviceaccounts`, {
        apiVersion: 'v1',
        kind: 'ServiceAccount',
        metadata: { name: sa },
      });
    }
    await create('/apis/rbac.authorization.k8s.io/v1/clusterrolebindings', {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: 'spiderpool-testbed' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cluster-admin' },
      subjects: SPIDERPOOL_SERVICE_ACCOUNTS.map((name) => ({
        kind: 'ServiceAccount',
        name,
        namespace: SPIDERPOOL_NAMESPACE,
      })),
    });
    const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    for (const [i, name] of st.nodes.entries()) {
      await create('/api/v1/nodes', {
        apiVersion: 'v1',
        kind: 'Node',
        metadata: {
          name,
          labels: { 'kubernetes.io/hostname': name, 'kubernetes.io/os': 'linux', 'kubernetes.io/arch': 'amd64' },
        },
        spec: { podCIDR: `10.244.${i + 1}.0/24`, podCIDRs: [`10.244.${i + 1}.0/24`] },
      });
      const status = {
        status: {
          capacity: { cpu: '8', memory: '32Gi', pods: '110', 'ephemeral-storage': '100Gi' },
          allocatable: { cpu: '8', memory: '32Gi', pods: '110', 'ephemeral-storage': '100Gi' },
          addresses: [
            { type: 'InternalIP', address: `172.18.0.${i + 10}` },
            { type: 'Hostname', address: name },
          ],
          conditions: [
            {
              type: 'Ready',
              status: 'True',
              reason: 'KubeletReady',
              message: 'spiderpool-guard test bed node (no kubelet)',
              lastHeartbeatTime: now,
              lastTransitionTime: now,
            },
          ],
          nodeInfo: {
            machineID: '',
            systemUUID: '',
            bootID: '',
            kernelVersion: '',
            osImage: 'spiderpool-guard testbed',
            containerRuntimeVersion: '',
            kubeletVersion: 'v0.0.0-testbed',
            kubeProxyVersion: '',
            operatingSystem: 'linux',
            architecture: 'amd64',
          },
        },
      };
      const res = await kubeRequest(
        st.apiserverUrl,
        creds,
        'PATCH',
        `/api/v1/nodes/${name}/status`,
        status,
        'application/merge-patch+json',
      );
      if (res.status !== 200) throw new ClusterFailure(`PATCH nodes/${name}/status: HTTP ${res.status} ${res.body}`);
    }
    log(
      'bootstrap',
      `nodes ${st.nodes.join(', ')} Ready; ServiceAccounts ${SPIDERPOOL_SERVICE_ACCOUNTS.map((s) => `${SPIDERPOOL_NAMESPACE}/${s}`).join(', ')} bound to cluster-admin`,
    );
  }

  private async installCrds(creds: Credentials): Promise<void> {
    const st = this.state;
    await runOk(st.binaries.kubectl, [
      '--kubeconfig',
      st.kubeconfigPath,
      'apply',
      '--server-side',
      '--field-manager=spiderpool-testbed',
      '-f',
      CRD_DIR,
    ]);
    for (const name of CRD_NAMES) {
      await this.waitFor(`CRD ${name} Established`, 60000, async () => {
        const res = await kubeRequest(
          st.apiserverUrl,
          creds,
          'GET',
          `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${name}`,
        );
        if (res.status !== 200) return false;
        const crd = JSON.parse(res.body) as { status?: { conditions?: { type: string; status: string }[] } };
        return (crd.status?.conditions ?? []).some((c) => c.type === 'Established' && c.status === 'True');
      });
    }
    // Established means the API server accepted the names; also wait until the resources are actually served.
    await this.waitFor('spiderpool.spidernet.io/v2beta1 served', 60000, async () => {
      const list1 = await kubeRequest(
        st.apiserverUrl,
        creds,
        'GET',
        '/apis/spiderpool.spidernet.io/v2beta1/spiderippools',
      );
      const list2 = await kubeRequest(
        st.apiserverUrl,
        creds,
        'GET',
        '/apis/spiderpool.spidernet.io/v2beta1/spiderendpoints',
      );
      return list1.status === 200 && list2.status === 200;
    });
  }

  /**
   * Fault injection (supervisor.ts, on SIGUSR2): kill -9 kube-apiserver and start it again with the same flags.
   * The new pid is in state.json as soon as it is spawned; callers wait for /readyz themselves.
   */
  async restartApiserver(): Promise<void> {
    const old = this.children.get('kube-apiserver');
    if (this.stopping || !old) return;
    this.expectedExits.add(old);
    if (old.exitCode === null && old.signalCode === null) {
      const exited = new Promise<void>((resolve) => old.once('exit', () => resolve()));
      old.kill('SIGKILL');
      await exited;
    }
    // An outage of a chosen length (restartApiserver's downMs): a real API server takes seconds to come back, and a
    // fault test must outlast the guard's staleness threshold to test it.
    const request = path.join(this.state.stateDir, RESTART_REQUEST_FILE);
    let downMs = 0;
    try {
      downMs = Number((JSON.parse(fs.readFileSync(request, 'utf8')) as { downMs?: number }).downMs) || 0;
      fs.rmSync(request, { force: true });
    } catch {
      // no request file: restart at once
    }
    if (downMs > 0) await sleep(downMs);
    log('kube-apiserver', `killed (SIGKILL) on request: restarting${downMs > 0 ? ` after ${downMs} ms down` : ''}`);
    const child = this.spawnChild('kube-apiserver', this.state.binaries.kubeApiserver, this.apiserverArgs);
    this.state.pids.kubeApiserver = child.pid;
    this.save();
  }

  /** Stops the children in order; resolves when all have exited. Idempotent. */
  async stop(): Promise<void> {
    this.stopping = true;
    // the runner first: it stops the pods while the API server still answers
    const order = ['runner', 'kube-controller-manager', 'kube-apiserver', 'etcd'];
    for (const name of order) {
      const child = this.children.get(name);
      if (!child) continue;
      await stopChild(name, child, name === 'etcd' ? 10000 : 15000);
    }
    for (const [name, child] of this.children) if (!order.includes(name)) await stopChild(name, child, 5000);
    if (this.net) await removeNetwork(this.net.hash);
  }
}

async function stopChild(name: string, child: ChildProcess, graceMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), graceMs));
  if ((await Promise.race([exited, timer])) === 'timeout') {
    log(name, `did not exit within ${formatDuration(graceMs)} of SIGTERM: SIGKILL`);
    child.kill('SIGKILL');
    await exited;
  }
  log(name, 'stopped');
}

/** The first address of a service CIDR: the `kubernetes` Service's ClusterIP, a SAN of the serving certificate. */
function firstServiceIp(cidr: string): string {
  const [a, b, c, d] = cidr.split('/')[0].split('.').map(Number);
  return `${a}.${b}.${c}.${d + 1}`;
}

function tail(file: string, lines: number): string {
  try {
    return fs.readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}
