/**
 * Against an API server that does not serve streaming lists (kube-apiserver with --feature-gates=WatchList=false,
 * as Kubernetes 1.33 ships): every cache falls back to LIST pages, says so once in a warning naming the API server's
 * answer and in spiderpool_guard_cache_sync_method, syncs, and follows changes. Runs on a private test bed: it needs
 * its own API server flags.
 */
import { Writable } from 'node:stream';
import { Registry } from 'prom-client';
import { ClusterCache, startClusterCache } from '../../webhook/cluster/informers';
import { createLogger } from '../../webhook/log/logger';
import { startTestbed, type Testbed } from '../../testbed/testbed';
import { clientsFor, createEndpoint, randomSuffix, waitFor } from './support';

let tb: Testbed;
let cache: ClusterCache | undefined;

beforeAll(async () => {
  tb = await startTestbed({
    name: `watch-list-off-${randomSuffix()}`,
    showProgress: false,
    apiserverFeatureGates: 'WatchList=false',
  });
}, 300_000);

afterAll(async () => {
  cache?.stop();
  await tb?.stop();
});

test('every cache falls back to LIST pages, logs why once, shows it in the metric, syncs and follows', async () => {
  const lines: { msg: string; reflector?: string; err?: string; level: number }[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString().split('\n')) if (l) lines.push(JSON.parse(l));
      done();
    },
  });
  const registry = new Registry();
  cache = startClusterCache(tb.kubeConfig(), createLogger('info', sink), { kubevirt: false, registry });
  await waitFor('caches synced', async () => cache!.synced(), 60_000);

  const status = cache.status();
  for (const [resource, s] of Object.entries(status)) expect([resource, s.syncMethod]).toEqual([resource, 'list']);
  const refusals = lines.filter((l) => l.msg.includes('does not serve streaming lists'));
  expect(refusals.map((l) => l.reflector).sort()).toEqual(Object.keys(status).sort()); // once per resource
  // what the API server answered: 422 Invalid, naming the parameter it refuses
  expect(refusals[0].err).toMatch(/HTTP 422.*sendInitialEvents/);
  const metrics = await registry.metrics();
  expect(metrics).toContain('spiderpool_guard_cache_sync_method{resource="pods",method="list"} 1');
  expect(metrics).toContain('spiderpool_guard_cache_sync_method{resource="pods",method="watch-list"} 0');

  // the watch that follows the LIST delivers changes
  const admin = clientsFor(tb.kubeConfig());
  await createEndpoint(admin.custom, 'default', {
    name: 'after-fallback',
    uid: 'uid-after-fallback',
    ips: [{ interface: 'eth0', ipv4: '10.6.168.102/16', ipv4Pool: 'p' }],
  });
  await waitFor('the endpoint in the cache', async () => cache!.view.endpoint('default', 'after-fallback'));
});
