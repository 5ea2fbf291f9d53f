/**
 * Pure pieces of the runner (no I/O, time passed in): what a container's environment, command line and user are
 * according to its pod spec, Kubernetes quantities, the token refresh schedule and the restart back-off. Unit-tested
 * in test/unit/testbed/runner.test.ts.
 */
import type * as k8s from '@kubernetes/client-node';
import type { KnownImage } from './images';

/** A Kubernetes quantity (`100m`, `512Mi`, `1.5G`, `2e3`) as a number of base units. */
export function parseQuantity(q: string | number): number {
  if (typeof q === 'number') return q;
  const m = /^([+-]?[0-9.]+)(?:([eE][+-]?\d+)|(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei))?$/.exec(q.trim());
  if (!m) throw new Error(`not a quantity: ${JSON.stringify(q)}`);
  const base = Number(m[1]);
  if (m[2]) return base * 10 ** Number(m[2].slice(1));
  const factor: Record<string, number> = {
    m: 1e-3,
    k: 1e3,
    M: 1e6,
    G: 1e9,
    T: 1e12,
    P: 1e15,
    E: 1e18,
    Ki: 2 ** 10,
    Mi: 2 ** 20,
    Gi: 2 ** 30,
    Ti: 2 ** 40,
    Pi: 2 ** 50,
    Ei: 2 ** 60,
  };
  return base * (m[3] ? factor[m[3]] : 1);
}

/** Node allocatable, used for resourceFieldRef limits a container does not set (as the kubelet does). */
export type Allocatable = Record<string, string>;

/**
 * `resourceFieldRef` value: the container's limit/request divided by the divisor, rounded up (cpu divisor defaults
 * to 1 core, everything else to 1); an unset limit is the node's allocatable, an unset request is 0 (cpu/memory).
 */
export function resourceFieldValue(
  ref: k8s.V1ResourceFieldSelector,
  containers: k8s.V1Container[],
  allocatable: Allocatable,
): string {
  const c = ref.containerName ? containers.find((x) => x.name === ref.containerName) : containers[0];
  if (!c) throw new Error(`resourceFieldRef: no container ${ref.containerName ?? '(first)'}`);
  const [kind, resource] = ref.resource.split('.', 2) as ['limits' | 'requests', string];
  const set = kind === 'limits' ? c.resources?.limits : c.resources?.requests;
  let raw = set?.[resource] as string | number | undefined;
  if (raw === undefined && kind === 'limits') raw = allocatable[resource];
  if (raw === undefined && kind === 'requests') raw = c.resources?.limits?.[resource] as string | undefined;
  const value = raw === undefined ? 0 : parseQuantity(raw);
  const divisor = ref.divisor !== undefined ? parseQuantity(ref.divisor as string) : 1;
  return String(Math.ceil(value / divisor));
}

function mapKey(fieldPath: string, prefix: string): string | undefined {
  const m = new RegExp(`^${prefix.replace('.', '\\.')}\\['(.+)'\\]$`).exec(fieldPath);
  return m ? m[1] : undefined;
}

/** `fieldRef` value for the fields the downward API supports. */
export function fieldRefValue(pod: k8s.V1Pod, fieldPath: string): string {
  const label = mapKey(fieldPath, 'metadata.labels');
  if (label !== undefined) return pod.metadata?.labels?.[label] ?? '';
  const annotation = mapKey(fieldPath, 'metadata.annotations');
  if (annotation !== undefined) return pod.metadata?.annotations?.[annotation] ?? '';
  switch (fieldPath) {
    case 'metadata.name':
      return pod.metadata?.name ?? '';
    case 'metadata.namespace':
      return pod.metadata?.namespace ?? '';
    case 'metadata.uid':
      return pod.metadata?.uid ?? '';
    case 'metadata.labels':
      return Object.entries(pod.metadata?.labels ?? {})
        .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
        .sort()
        .join('\n');
    case 'metadata.annotations':
      return Object.entries(pod.metadata?.annotations ?? {})
        .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
        .sort()
        .join('\n');
    case 'spec.nodeName':
      return pod.spec?.nodeName ?? '';
    case 'spec.serviceAccountName':
      return pod.spec?.serviceAccountName ?? '';
    case 'status.hostIP':
      return pod.status?.hostIP ?? '';
    case 'status.hostIPs':
      return (pod.status?.hostIPs ?? []).map((x) => x.ip).join(',');
    case 'status.podIP':
      return pod.status?.podIP ?? '';
    case 'status.podIPs':
      return (pod.status?.podIPs ?? []).map((x) => x.ip).join(',');
    default:
      throw new Error(`fieldRef ${fieldPath} is not supported by the downward API`);
  }
}

/** `$(VAR)` expansion as the kubelet does it: defined names are replaced, `$$` is a literal `$`, the rest stays. */
export function expandVars(s: string, env: Record<string, string>): string {
  return s.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)/g, (whole, name: string | undefined) => {
    if (name === undefined) return '$';
    return Object.prototype.hasOwnProperty.call(env, name) ? env[name] : whole;
  });
}

/** Reads a key of a Secret or ConfigMap in the pod's namespace (undefined: object or key missing). */
export interface ObjectLookup {
  secret(name: string): Record<string, string> | undefined;
  configMap(name: string): Record<string, string> | undefined;
}

export class EnvError extends Error {}

/**
 * The container's environment in kubelet order: image env, service links (+ KUBERNETES_*), envFrom, env (each
 * entry may refer to earlier ones with $(VAR)). Missing non-optional references throw (the kubelet would report
 * CreateContainerConfigError).
 */
export function containerEnv(
  pod: k8s.V1Pod,
  container: k8s.V1Container,
  image: KnownImage,
  serviceEnv: Record<string, string>,
  lookup: ObjectLookup,
  allocatable: Allocatable,
): Record<string, string> {
  const env: Record<string, string> = { ...image.env, HOSTNAME: pod.metadata?.name ?? '', HOME: '/', ...serviceEnv };
  for (const from of container.envFrom ?? []) {
    const ref = from.configMapRef ?? from.secretRef;
    const data = from.configMapRef ? lookup.configMap(ref?.name ?? '') : lookup.secret(ref?.name ?? '');
    if (!data) {
      if (ref?.optional) continue;
      throw new EnvError(`envFrom: ${from.configMapRef ? 'ConfigMap' : 'Secret'} ${ref?.name} not found`);
    }
    for (const [k, v] of Object.entries(data)) env[`${from.prefix ?? ''}${k}`] = v;
  }
  const containers = [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])];
  for (const e of container.env ?? []) {
    const vf = e.valueFrom;
    if (!vf) {
      env[e.name] = expandVars(e.value ?? '', env);
      continue;
    }
    if (vf.fieldRef) env[e.name] = fieldRefValue(pod, vf.fieldRef.fieldPath);
    else if (vf.resourceFieldRef)
      env[e.name] = resourceFieldValue(
        { containerName: container.name, ...vf.resourceFieldRef },
        containers,
        allocatable,
      );
    else if (vf.secretKeyRef || vf.configMapKeyRef) {
      const ref = (vf.secretKeyRef ?? vf.configMapKeyRef)!;
      const data = vf.secretKeyRef ? lookup.secret(ref.name ?? '') : lookup.configMap(ref.name ?? '');
      const value = data?.[ref.key];
      if (value === undefined) {
        if (ref.optional) continue;
        throw new EnvError(
          `env ${e.name}: ${vf.secretKeyRef ? 'Secret' : 'ConfigMap'} ${ref.name} key ${ref.key} not found`,
        );
      }
      env[e.name] = value;
    }
  }
  return env;
}

/** argv per the Kubernetes rules: command replaces ENTRYPOINT (and drops CMD), args replaces CMD; $(VAR) expanded. */
export function containerArgv(container: k8s.V1Container, image: KnownImage, env: Record<string, string>): string[] {
  const command = container.command?.length ? container.command : image.entrypoint;
  const args = container.args?.length ? container.args : container.command?.length ? [] : image.cmd;
  return [...command, ...args].map((a) => expandVars(a, env));
}

/** uid/gid/supplementary groups: container securityContext over pod securityContext over the image's USER. */
export function containerUser(
  pod: k8s.V1Pod,
  container: k8s.V1Container,
  image: KnownImage,
): { uid: number; gid: number; groups: number[] } {
  const psc = pod.spec?.securityContext;
  const csc = container.securityContext;
  const uid = csc?.runAsUser ?? psc?.runAsUser ?? image.user.uid;
  const gid = csc?.runAsGroup ?? psc?.runAsGroup ?? (uid === image.user.uid ? image.user.gid : 0);
  const groups = [...(psc?.fsGroup !== undefined ? [psc.fsGroup] : []), ...(psc?.supplementalGroups ?? [])];
  if ((csc?.runAsNonRoot ?? psc?.runAsNonRoot) && uid === 0)
    throw new EnvError('container has runAsNonRoot and would run as root (uid 0)');
  return { uid, gid, groups };
}

export interface ProbeCounts {
  successes: number;
  failures: number;
  /** the probe's result so far: undefined until a threshold was first reached */
  result: boolean | undefined;
}

/**
 * One probe attempt's effect, as the kubelet counts: the result becomes success after successThreshold consecutive
 * successes and failure after failureThreshold consecutive failures, and stays what it was in between.
 */
export function probeStep(
  prev: ProbeCounts,
  ok: boolean,
  probe: { successThreshold?: number; failureThreshold?: number },
): ProbeCounts {
  const successes = ok ? prev.successes + 1 : 0;
  const failures = ok ? 0 : prev.failures + 1;
  const result =
    successes >= (probe.successThreshold ?? 1) ? true : failures >= (probe.failureThreshold ?? 3) ? false : prev.result;
  return { successes, failures, result };
}

/** When to refresh a projected token: at 80% of its life, and at least every 24 h (the kubelet's rule). */
export function tokenRefreshAt(issuedAtMs: number, expiresAtMs: number): number {
  return Math.min(issuedAtMs + 0.8 * (expiresAtMs - issuedAtMs), issuedAtMs + 24 * 3600 * 1000);
}

/**
 * Restart back-off of a container that exited: the first restart is immediate, then 10 s doubling up to 5 min; a
 * container that ran for 10 min resets it. Returns the delay and the back-off to remember.
 */
export function restartDelay(previousBackoffMs: number, ranForMs: number): { delayMs: number; nextBackoffMs: number } {
  if (ranForMs >= 10 * 60 * 1000 || previousBackoffMs === 0) return { delayMs: 0, nextBackoffMs: 10_000 };
  return { delayMs: previousBackoffMs, nextBackoffMs: Math.min(previousBackoffMs * 2, 300_000) };
}

/** Service environment variables ({SVC}_SERVICE_HOST/_PORT/_PORT_<NAME>) for the services of the pod's namespace. */
export function serviceLinkEnv(services: k8s.V1Service[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const svc of services) {
    const ip = svc.spec?.clusterIP;
    if (!ip || ip === 'None') continue;
    const prefix = (svc.metadata?.name ?? '').toUpperCase().replace(/-/g, '_');
    const ports = svc.spec?.ports ?? [];
    if (!ports.length) continue;
    env[`${prefix}_SERVICE_HOST`] = ip;
    env[`${prefix}_SERVICE_PORT`] = String(ports[0].port);
    for (const p of ports)
      if (p.name) env[`${prefix}_SERVICE_PORT_${p.name.toUpperCase().replace(/-/g, '_')}`] = String(p.port);
    env[`${prefix}_PORT`] = `${(ports[0].protocol ?? 'TCP').toLowerCase()}://${ip}:${ports[0].port}`;
  }
  return env;
}
