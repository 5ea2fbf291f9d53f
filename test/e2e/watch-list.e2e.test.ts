/**
 * A cache filled by a streaming list (WatchList), against the real API server: the reflector counts as synced only
 * once the initial events are complete (every object already there is in the cache at that moment, and it never
 * LISTs), and after a gap (its connection cut while an object is deleted) it streams the list again and the object
 * whose deletion it never saw is removed at the end of the new initial events.
 */
import { Reflector } from '../../webhook/cluster/reflector';
import { createLogger } from '../../webhook/log/logger';
import type { KubeObject } from '../../webhook/model';
import { TcpProxy } from '../../testbed/tcp-proxy';
import { adminClients, kubeConfigVia, useTestNamespace, waitFor } from './support';

const ns = useTestNamespace('watch-list');
const admin = adminClients();
let proxy: TcpProxy | undefined;
let reflector: Reflector | undefined;

afterAll(async () => {
  reflector?.stop();
  await proxy?.stop();
});

const nameOf = (o: KubeObject) => (o.metadata as { name: string }).name;

test('synced only after the initial events; a deletion missed during a gap is removed when the list is streamed again', async () => {
  const names = Array.from({ length: 120 }, (_, i) => `cm-${i}`);
  for (const name of names)
    await admin.core.createNamespacedConfigMap({ namespace: ns.name, body: { metadata: { name }, data: { i: name } } });

  const server = new URL(admin.kc.getCurrentCluster()!.server);
  proxy = await TcpProxy.start(server.hostname, Number(server.port));
  const cache = new Map<string, KubeObject>();
  const upsertedWhileSynced: string[] = [];
  const watchedDeletes: string[] = [];
  let lists = 0;
  reflector = new Reflector(
    kubeConfigVia(admin.kc, `https://127.0.0.1:${proxy.port}`),
    {
      name: 'configmaps',
      path: `/api/v1/namespaces/${ns.name}/configmaps`,
      list: async () => {
        lists++;
        throw new Error('a streaming list must not LIST');
      },
      upsert: (o) => {
        if (reflector!.synced) upsertedWhileSynced.push(nameOf(o));
        cache.set(nameOf(o), o);
      },
      remove: (_ns, name) => cache.delete(name),
      cached: () => [...cache.keys()].map((name) => ({ namespace: ns.name, name })),
    },
    createLogger('silent'),
    (_kind, type, o) => {
      if (type === 'DELETED') watchedDeletes.push(nameOf(o));
    },
    { sync: 'watch-list' },
  );
  reflector.start();
  await waitFor('synced', async () => reflector!.synced, 30_000);
  // every object that existed before the start arrived before the cache counted as synced
  for (const name of names) expect(cache.has(name)).toBe(true);
  expect(upsertedWhileSynced.filter((n) => names.includes(n))).toEqual([]);
  expect(reflector.status()).toMatchObject({ state: 'synced', syncMethod: 'watch-list' });
  expect(lists).toBe(0);

  // the watch follows: a deletion arrives as an event
  await admin.core.deleteNamespacedConfigMap({ namespace: ns.name, name: 'cm-0' });
  await waitFor('cm-0 deleted by its watch event', async () => !cache.has('cm-0') && watchedDeletes.includes('cm-0'));
  const rvBefore = reflector.status().resourceVersion;

  // a gap: nothing reaches the reflector, cm-1 is deleted meanwhile, the connection is cut and restored
  proxy.freeze();
  await admin.core.deleteNamespacedConfigMap({ namespace: ns.name, name: 'cm-1' });
  await admin.core.createNamespacedConfigMap({ namespace: ns.name, body: { metadata: { name: 'cm-new' } } });
  proxy.cut();
  await waitFor('the reflector saw the cut', async () => reflector!.status().lastError !== undefined, 30_000);
  expect(cache.has('cm-1')).toBe(true);
  proxy.thaw();

  await waitFor('cm-1 removed and cm-new seen', async () => !cache.has('cm-1') && cache.has('cm-new'), 30_000);
  await waitFor('synced again', async () => reflector!.synced && reflector!.status().lastError === undefined);
  // removed by the end of the new initial events, not by a watched deletion (that event was lost with the cut)
  expect(watchedDeletes).toEqual(['cm-0']);
  expect(BigInt(reflector.status().resourceVersion)).toBeGreaterThan(BigInt(rvBefore));
  // (the namespace also holds the kube-root-ca.crt ConfigMap its controller publishes)
  const expected = [...names.slice(2), 'cm-new'].sort();
  expect([...cache.keys()].filter((n) => n.startsWith('cm-')).sort()).toEqual(expected);
  expect(lists).toBe(0);
});
