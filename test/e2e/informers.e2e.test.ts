/**
 * The guard's caches recover by themselves: when a watched resource goes away (its CRD deleted, so the watch ends
 * and every list answers 404) the reflector backs off and relists until the resource is served again, then drops
 * what vanished and picks up what is new. Runs on a private test bed: it deletes a CRD.
 */
import * as k8s from '@kubernetes/client-node';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createLogger } from '../../webhook/log/logger';
import { ClusterCache, startClusterCache } from '../../webhook/cluster/informers';
import { CRD_DIR } from '../../testbed/cluster';
import { startTestbed, type Testbed } from '../../testbed/testbed';
import { clientsFor, createEndpoint, randomSuffix, waitFor } from './support';

const ENDPOINTS_CRD = 'spiderendpoints.spiderpool.spidernet.io';
let tb: Testbed;
let cache: ClusterCache | undefined;

beforeAll(async () => {
  tb = await startTestbed({ name: `informers-${randomSuffix()}`, showProgress: false });
}, 300_000);

afterAll(async () => {
  cache?.stop();
  await tb?.stop();
});

test('after the SpiderEndpoint CRD is deleted and recreated, the cache relists: gone objects removed, new ones seen', async () => {
  const admin = clientsFor(tb.kubeConfig());
  const ns = 'default';
  const ep = (name: string) => ({
    name,
    uid: `uid-${name}`,
    ips: [{ interface: 'eth0', ipv4: '10.6.168.101/16', ipv4Pool: 'p' }],
  });
  cache = startClusterCache(tb.kubeConfig(), createLogger('silent'), { kubevirt: false });
  await waitFor('caches synced', async () => cache!.synced());
  await createEndpoint(admin.custom, ns, ep('before'));
  await waitFor('endpoint "before" in the cache', async () => cache!.view.endpoint(ns, 'before'));

  // The CRD goes away: its objects are deleted, the watch ends, lists answer 404 until it is back.
  await admin.custom.patchNamespacedCustomObject(
    {
      group: 'spiderpool.spidernet.io',
      version: 'v2beta1',
      namespace: ns,
      plural: 'spiderendpoints',
      name: 'before',
      body: { metadata: { finalizers: null } },
    },
    k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
  );
  await admin.apiext.deleteCustomResourceDefinition({ name: ENDPOINTS_CRD });
  await waitFor(
    'CRD gone',
    async () =>
      admin.apiext.readCustomResourceDefinition({ name: ENDPOINTS_CRD }).then(
        () => false,
        () => true,
      ),
    60_000,
  );
  await waitFor('the reflector reports the failure', async () => cache!.status().spiderendpoints.lastError, 60_000);

  const crd = k8s.loadYaml<k8s.V1CustomResourceDefinition>(
    fs.readFileSync(path.join(CRD_DIR, `spiderpool.spidernet.io_spiderendpoints.yaml`), 'utf8'),
  );
  await admin.apiext.createCustomResourceDefinition({ body: crd });
  await waitFor(
    'CRD established',
    async () =>
      (await admin.apiext.readCustomResourceDefinition({ name: ENDPOINTS_CRD })).status?.conditions?.some(
        (c) => c.type === 'Established' && c.status === 'True',
      ),
    60_000,
  );
  await waitFor(
    'endpoints served again',
    async () =>
      admin.custom
        .listNamespacedCustomObject({
          group: 'spiderpool.spidernet.io',
          version: 'v2beta1',
          namespace: ns,
          plural: 'spiderendpoints',
        })
        .then(
          () => true,
          () => false,
        ),
    60_000,
  );
  await createEndpoint(admin.custom, ns, ep('after'));
  await waitFor('endpoint "after" in the cache', async () => cache!.view.endpoint(ns, 'after'), 90_000);
  expect(cache.view.endpoint(ns, 'before')).toBeUndefined();
  expect(cache.status().spiderendpoints).toMatchObject({ state: 'synced', stalenessSeconds: 0 });
  expect(cache.status().spiderendpoints.lastError).toBeUndefined();
  expect(cache.synced()).toBe(true);
});
