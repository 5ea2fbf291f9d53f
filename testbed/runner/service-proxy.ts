/**
 * ClusterIP Services for the pods, in the manner of kube-proxy's old userspace mode: every ClusterIP is added to the
 * test bed's bridge as a /32 and the runner listens on ClusterIP:port, forwarding each TCP connection to a ready
 * endpoint of the Service's EndpointSlices (chosen at random). Pods reach it through their default route, the host
 * on the same addresses. Name resolution is the pods' /etc/hosts (hostsFile): `<svc>.<ns>.svc[.cluster.local]`, and
 * `<svc>` within the pod's namespace, map to the ClusterIP, which is what cluster DNS would answer.
 *
 * The API server itself does not use this: with --enable-aggregator-routing it calls webhooks at endpoint IPs.
 */
import type * as k8s from '@kubernetes/client-node';
import * as net from 'node:net';
import { setServiceAddress, type TestbedNetwork } from './network';

interface Listener {
  key: string;
  server: net.Server;
}

export class ServiceProxy {
  private readonly services = new Map<string, k8s.V1Service>();
  private readonly slices = new Map<string, k8s.V1EndpointSlice>();
  private readonly listeners = new Map<string, Listener>();
  private readonly addresses = new Set<string>();
  /** syncs run one after the other: two at once would bind the same ClusterIP:port twice */
  private chain: Promise<void> = Promise.resolve();

  constructor(
    private readonly net: TestbedNetwork,
    private readonly log: (msg: string) => void,
  ) {}

  setService(svc: k8s.V1Service, present: boolean): void {
    const key = `${svc.metadata?.namespace}/${svc.metadata?.name}`;
    if (present) this.services.set(key, svc);
    else this.services.delete(key);
    this.chain = this.chain
      .then(() => this.sync())
      .catch((err: Error) => this.log(`service proxy sync: ${err.message}`));
  }

  setSlice(slice: k8s.V1EndpointSlice, present: boolean): void {
    const key = `${slice.metadata?.namespace}/${slice.metadata?.name}`;
    if (present) this.slices.set(key, slice);
    else this.slices.delete(key);
  }

  /** The ClusterIP Services, for /etc/hosts and service-link environment variables. */
  list(namespace?: string): k8s.V1Service[] {
    return [...this.services.values()].filter((s) => namespace === undefined || s.metadata?.namespace === namespace);
  }

  /** /etc/hosts of a pod: itself, then every Service's DNS names (the cluster DNS stand-in). */
  hostsFile(podName: string, podIp: string, podNamespace: string): string {
    const lines = [
      '# Kubernetes-managed hosts file (spiderpool-guard test bed runner).',
      '127.0.0.1\tlocalhost',
      '::1\tlocalhost ip6-localhost ip6-loopback',
      `${podIp}\t${podName}`,
    ];
    for (const s of this.services.values()) {
      const ip = s.spec?.clusterIP;
      if (!ip || ip === 'None') continue;
      const { name, namespace } = s.metadata ?? {};
      const names = [
        `${name}.${namespace}.svc`,
        `${name}.${namespace}.svc.cluster.local`,
        ...(namespace === podNamespace ? [name] : []),
      ];
      lines.push(`${ip}\t${names.join(' ')}`);
    }
    return lines.join('\n') + '\n';
  }

  /** Ready endpoint addresses of a Service port (by the Service port's name), as `ip:port`. */
  backends(svc: k8s.V1Service, port: k8s.V1ServicePort): string[] {
    const out: string[] = [];
    for (const slice of this.slices.values()) {
      if (slice.metadata?.namespace !== svc.metadata?.namespace) continue;
      if (slice.metadata?.labels?.['kubernetes.io/service-name'] !== svc.metadata?.name) continue;
      const sp = slice.ports?.find((p) => (p.name ?? '') === (port.name ?? ''));
      if (!sp?.port) continue;
      for (const ep of slice.endpoints ?? []) {
        if (ep.conditions?.ready === false) continue;
        for (const a of ep.addresses) out.push(`${a}:${sp.port}`);
      }
    }
    return out;
  }

  private async sync(): Promise<void> {
    const wanted = new Map<string, { svc: k8s.V1Service; port: k8s.V1ServicePort; ip: string }>();
    for (const svc of this.services.values()) {
      const ip = svc.spec?.clusterIP;
      if (!ip || ip === 'None' || ip.includes(':')) continue;
      for (const port of svc.spec?.ports ?? []) {
        if ((port.protocol ?? 'TCP') !== 'TCP') continue;
        wanted.set(`${ip}:${port.port}`, { svc, port, ip });
      }
    }
    for (const [key, l] of this.listeners) {
      if (wanted.has(key)) continue;
      l.server.close();
      this.listeners.delete(key);
    }
    const ips = new Set([...wanted.values()].map((w) => w.ip));
    for (const ip of this.addresses) {
      if (ips.has(ip)) continue;
      this.addresses.delete(ip);
      await setServiceAddress(this.net, ip, false);
    }
    for (const [key, w] of wanted) {
      if (this.listeners.has(key)) continue;
      if (!this.addresses.has(w.ip)) {
        this.addresses.add(w.ip);
        await setServiceAddress(this.net, w.ip, true);
      }
      const svcKey = `${w.svc.metadata?.namespace}/${w.svc.metadata?.name}`;
      const portName = w.port.name;
      const server = net.createServer((client) => {
        const svc = this.services.get(svcKey);
        const port = svc?.spec?.ports?.find((p) => p.name === portName);
        const targets = svc && port ? this.backends(svc, port) : [];
        if (!targets.length) {
          client.destroy(); // no ready endpoint: connection refused, as with kube-proxy's REJECT
          return;
        }
        const [host, p] = targets[Math.floor(Math.random() * targets.length)].split(':');
        const upstream = net.connect({ host, port: Number(p) });
        client.pipe(upstream).pipe(client);
        const close = () => {
          client.destroy();
          upstream.destroy();
        };
        client.on('error', close);
        upstream.on('error', close);
      });
      server.on('error', (err) => this.log(`service proxy ${key} (${svcKey}): ${err.message}`));
      server.listen(w.port.port, w.ip);
      this.listeners.set(key, { key, server });
    }
  }

  async stop(): Promise<void> {
    await this.chain;
    for (const l of this.listeners.values()) l.server.close();
    this.listeners.clear();
    for (const ip of this.addresses) await setServiceAddress(this.net, ip, false);
    this.addresses.clear();
  }
}
