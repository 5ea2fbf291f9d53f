/**
 * Fills the test bed with a realistic amount of Spiderpool state for the guard's caches: pods, their endpoints,
 * and pools whose records name them (10,000 pods, 10,000 endpoints, 20,736 records by default).
 */
import * as k8s from '@kubernetes/client-node';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ensureKubernetesBinaries } from '../../testbed/binaries';
import { GHOSTS, PoolSpecFixture, podRef, poolIp, poolObject, poolRecords } from './fixtures';

/** `kubectl create -f` of the items in a few parallel chunks (already existing objects are skipped). */
async function kubectlCreate(kubectl: string, kubeconfigPath: string, items: unknown[], processes = 4): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'spg-populate-'));
  const size = Math.ceil(items.length / processes);
  await Promise.all(
    Array.from({ length: processes }, (_, c) => {
      const file = path.join(dir, `chunk-${c}.json`);
      fs.writeFileSync(
        file,
        JSON.stringify({ apiVersion: 'v1', kind: 'List', items: items.slice(c * size, (c + 1) * size) }),
      );
      return new Promise<void>((resolve, reject) => {
        const child = spawn(
          kubectl,
          ['--kubeconfig', kubeconfigPath, 'create', '--save-config=false', '-o', 'name', '-f', file],
          { stdio: ['ignore', 'ignore', 'pipe'] },
        );
        let err = '';
        child.stderr.on('data', (d: Buffer) => (err += d.toString()));
        child.on('exit', (code) => {
          const real = err.split('\n').filter((l) => l.trim() && !l.includes('AlreadyExists'));
          if (code === 0 || real.length === 0) resolve();
          else reject(new Error(`kubectl create: ${real.slice(0, 3).join(' ')}`));
        });
      });
    }),
  );
  fs.rmSync(dir, { recursive: true, force: true });
}

function ignoreExists(err: unknown): void {
  if ((err as { code?: number }).code !== 409) throw err;
}

/** Returns the pods' uids (index → uid). */
export async function populate(
  kc: k8s.KubeConfig,
  kubeconfigPath: string,
  pools: PoolSpecFixture[],
  pods: number,
  say: (s: string) => void,
): Promise<string[]> {
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const custom = kc.makeApiClient(k8s.CustomObjectsApi);
  const namespaces = [...new Set(Array.from({ length: Math.min(pods, 20) }, (_, i) => podRef(i).namespace))];
  for (const name of namespaces) {
    await core.createNamespace({ body: { metadata: { name } } }).catch(ignoreExists);
    for (let i = 0; i < 200; i++) {
      if (
        await core.readNamespacedServiceAccount({ namespace: name, name: 'default' }).then(
          () => true,
          () => false,
        )
      )
        break;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  let t = Date.now();
  // kubectl, not client-node, for the bulk: client-node 1.4 builds a new https.Agent (a new TLS handshake) for
  // every request, which made 2,000 creates take 40 s here; kubectl keeps one connection per process.
  const { kubectl } = await ensureKubernetesBinaries();
  const podItems = [...Array(pods).keys()].map((i) => {
    const ref = podRef(i);
    return {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name: ref.name,
        namespace: ref.namespace,
        labels: { app: `app-${i % 100}` },
        annotations: { 'ipam.spidernet.io/ippool': '{"ipv4":["bench"]}' },
      },
      spec: {
        nodeName: `node-${(i % 3) + 1}`,
        restartPolicy: i < GHOSTS ? 'Never' : 'Always',
        containers: [{ name: 'main', image: 'registry.k8s.io/pause:3.10', resources: { requests: { cpu: '10m' } } }],
      },
    };
  });
  await kubectlCreate(kubectl, kubeconfigPath, podItems);
  const uids: string[] = new Array(pods);
  const listed = await core.listPodForAllNamespaces({ labelSelector: 'app' });
  const index = new Map(listed.items.map((p) => [`${p.metadata!.namespace}/${p.metadata!.name}`, p.metadata!.uid!]));
  for (let i = 0; i < pods; i++) {
    const ref = podRef(i);
    uids[i] = index.get(`${ref.namespace}/${ref.name}`) ?? '';
  }
  // the first GHOSTS pods have completed (a Job's pods): their records are what the GC releases
  for (let i = 0; i < Math.min(GHOSTS, pods); i++) {
    const ref = podRef(i);
    const pod = await core.readNamespacedPod({ namespace: ref.namespace, name: ref.name });
    pod.status = {
      ...(pod.status ?? {}),
      phase: 'Succeeded',
      podIP: `10.200.0.${i + 1}`,
      podIPs: [{ ip: `10.200.0.${i + 1}` }],
    };
    await core.replaceNamespacedPodStatus({ namespace: ref.namespace, name: ref.name, body: pod });
  }
  say(`${pods} pods created in ${((Date.now() - t) / 1000).toFixed(1)} s`);

  // Records must name the pods' real uids: rebuild the fixture records with them.
  t = Date.now();
  for (const p of pools) {
    const records = poolRecords(p, pods, (i) => uids[i]);
    const obj = poolObject(p, records);
    const { resourceVersion: _rv, uid: _uid, ...metadata } = obj.metadata;
    void _rv;
    void _uid;
    await custom
      .createClusterCustomObject({
        group: 'spiderpool.spidernet.io',
        version: 'v2beta1',
        plural: 'spiderippools',
        body: { ...obj, metadata, status: undefined },
      })
      .catch(ignoreExists);
    const current = (await custom.getClusterCustomObject({
      group: 'spiderpool.spidernet.io',
      version: 'v2beta1',
      plural: 'spiderippools',
      name: p.name,
    })) as {
      metadata: { resourceVersion: string; uid: string };
    };
    await custom.replaceClusterCustomObjectStatus({
      group: 'spiderpool.spidernet.io',
      version: 'v2beta1',
      plural: 'spiderippools',
      name: p.name,
      body: {
        ...obj,
        metadata: { ...metadata, uid: current.metadata.uid, resourceVersion: current.metadata.resourceVersion },
      },
    });
  }
  say(
    `${pools.length} pools (${pools.reduce((n, p) => n + p.records, 0)} records) written in ${((Date.now() - t) / 1000).toFixed(1)} s`,
  );

  t = Date.now();
  const endpointItems = [...Array(pods).keys()].map((i) => {
    const ref = podRef(i);
    const ips = pools
      .filter((p) => i < p.records)
      .map((p) => ({ interface: 'eth0', ipv4: `${poolIp(p.index, i)}/16`, ipv4Pool: p.name, vlan: 0 }));
    return {
      apiVersion: 'spiderpool.spidernet.io/v2beta1',
      kind: 'SpiderEndpoint',
      metadata: {
        name: ref.name,
        namespace: ref.namespace,
        finalizers: ['spiderpool.spidernet.io'],
        ownerReferences: [{ apiVersion: 'v1', kind: 'Pod', name: ref.name, uid: uids[i] }],
      },
      status: {
        current: { uid: uids[i], node: `node-${(i % 3) + 1}`, ips },
        ownerControllerType: 'Deployment',
        ownerControllerName: `app-${i % 100}`,
      },
    };
  });
  await kubectlCreate(kubectl, kubeconfigPath, endpointItems);
  say(`${pods} endpoints created in ${((Date.now() - t) / 1000).toFixed(1)} s`);
  return uids;
}
