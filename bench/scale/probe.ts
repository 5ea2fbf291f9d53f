/**
 * Child process of `bench -- scale`: measures the guard's caches alone (the informers `serve` runs) against a
 * populated API server. Prints one JSON line. Run with --expose-gc so RSS is read after a full collection.
 *
 *   node --expose-gc --import tsx bench/scale/probe.ts <kubeconfig> [--sync watch-list|list] [--page-size N]
 *                                                     [--list-rv 0] [--rest]
 *
 * `--sync` is how the caches fill (default watch-list, as `serve`: a streaming list, LIST pages where the API server
 * refuses it); `--page-size` and `--list-rv` shape the LIST pages (--sync list, or the fallback).
 * Besides memory and times it prints `lists`: per resource, where its first sync spent the time (`method`: list or
 * watch-list; pages, items, bytes, summed time to first byte, body transfer, JSON parse and trim, the slowest
 * page's time to first byte, and its wall time; a streaming list is one page: time to its first event, its events up
 * to the end bookmark), and `apiServer`: how the API server served the LISTs during the sync (its watch cache or
 * etcd, from its own /metrics counters; a streaming list is a watch and counts there as none).
 */
import { KubeConfig } from '@kubernetes/client-node';
import { getHeapSpaceStatistics } from 'node:v8';
import { reservedIPsServed, startClusterCache } from '../../webhook/cluster/informers';
import { ListCosts } from '../../webhook/cluster/list-costs';
import { apiServerListCounters, counterDelta } from './apiserver-metrics';
import { nativeAllocator } from '../../webhook/app/allocator';
import { createLogger } from '../../webhook/log/logger';
import { DEFAULT_STATIC_IP_CONFIG } from '../../webhook/model/types';
import { findings } from '../../webhook/reconciler/findings';
import { plan } from '../../webhook/reconciler/plan';
import { reconcilerUser } from '../../webhook/reconciler/selfcheck';

const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});
const spaceMb = () =>
  Object.fromEntries(
    getHeapSpaceStatistics().map((s) => [
      s.space_name,
      `${Math.round(s.space_size / 2 ** 20)}/${Math.round(s.space_used_size / 2 ** 20)}`,
    ]),
  );
const newSpaceBytes = () => getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')?.space_size ?? 0;

/**
 * Waits until V8's memory reducer has run, as it does in an idle `serve`: it shrinks the young generation to its
 * minimum (and compacts the old generation) once allocation has stayed low for a while. Seconds it took, or null
 * when it had not run by the deadline (memory is then read anyway).
 */
async function rest(deadlineMs: number): Promise<number | null> {
  const grown = newSpaceBytes();
  const t0 = performance.now();
  while (performance.now() - t0 < deadlineMs) {
    await sleep(1000);
    if (newSpaceBytes() < grown / 2) {
      const seconds = Math.round((performance.now() - t0) / 1000);
      await sleep(3000); // the reducer's collections come in a short series
      return seconds;
    }
  }
  return null;
}
const rssMb = () => process.memoryUsage().rss / 2 ** 20;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const seconds = (ms: number) => Math.round(ms / 100) / 10;

async function main(): Promise<void> {
  const kc = new KubeConfig();
  kc.loadFromFile(process.argv[2]);
  // the informers `serve` runs (app/guard.ts): the SpiderReservedIP cache when the CRD is served; no KubeVirt
  const reservedIPs = await reservedIPsServed(kc);
  const argv = process.argv.slice(3);
  const arg = (name: string) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : undefined);
  const pageSize = Number(arg('--page-size') ?? 500);
  const listResourceVersion = arg('--list-rv') === '0' ? '0' : '';
  const sync = arg('--sync') === 'list' ? 'list' : 'watch-list';
  const listCosts = new ListCosts();
  const countersBefore = await apiServerListCounters(kc);
  gc();
  await sleep(200);
  gc();
  const baseRssMb = rssMb();
  const baseHeapUsed = process.memoryUsage().heapUsed;
  const atRest = argv.includes('--rest');
  const restBaseSeconds = atRest ? await rest(60_000) : null;
  const restBaseRssMb = rssMb();
  const restBaseHeapUsed = process.memoryUsage().heapUsed;
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  const cache = startClusterCache(kc, createLogger('silent'), {
    kubevirt: false,
    reservedIPs,
    sync,
    pageSize,
    listResourceVersion,
    listCosts,
  });
  while (!cache.synced()) await sleep(20);
  const syncSeconds = (performance.now() - t0) / 1000;
  // the guard's own share of the first sync (the rest of the wall time is the API server and the network)
  const syncCpu = process.cpuUsage(cpu0);
  const lists = listCosts.report();
  const apiServer = counterDelta(countersBefore, await apiServerListCounters(kc));
  const peakRssMb = rssMb();
  await sleep(2000);
  gc();
  await sleep(500);
  gc();
  const rss = rssMb();
  // read with RSS, after the collection (the passes below leave garbage)
  const { heapUsed, heapTotal, external, arrayBuffers } = process.memoryUsage();
  // committed/used MB of each V8 heap space: which one holds the gap between heapUsed and heapTotal
  const spacesMb = spaceMb();
  const counts = cache.view.counts();
  const restSeconds = atRest ? await rest(240_000) : null;
  const restRssMb = rssMb();
  const restHeapUsed = process.memoryUsage().heapUsed;
  const restSpacesMb = spaceMb();
  let records = 0;
  for (const p of cache.view.allPools()) records += p.records.size;
  const passes: number[] = [];
  const cpu: number[] = [];
  for (let i = 0; i < 5; i++) {
    const c0 = process.cpuUsage();
    const p0 = performance.now();
    const f = findings(cache.view, DEFAULT_STATIC_IP_CONFIG);
    plan(cache.view, { findings: f, staticIp: DEFAULT_STATIC_IP_CONFIG, user: reconcilerUser('kube-system') });
    passes.push(performance.now() - p0);
    const c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / 1000);
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  cache.stop();
  const out = {
    // the native allocator this process runs under (bench scale --allocator)
    allocator: nativeAllocator(),
    pods: counts.pods,
    endpoints: counts.endpoints,
    records,
    nodes: counts.nodes,
    reservedIPs: [...cache.view.reservedIPs()].length,
    baseRssMb: Math.round(baseRssMb),
    rssMb: Math.round(rss),
    peakRssMb: Math.round(peakRssMb),
    bytesPerPod: Math.round(((rss - baseRssMb) * 2 ** 20) / Math.max(1, counts.pods)),
    syncSeconds: Math.round(syncSeconds * 10) / 10,
    syncCpuSeconds: Math.round((syncCpu.user + syncCpu.system) / 1e5) / 10,
    reconcilePassMs: Math.round(median(passes)),
    reconcilePassCpuMs: Math.round(median(cpu)),
    heapUsedMb: Math.round(heapUsed / 2 ** 20),
    // live JS heap the caches added, per pod (endpoints and records charged to pods, as for bytesPerPod)
    heapBytesPerPod: Math.round((heapUsed - baseHeapUsed) / Math.max(1, counts.pods)),
    // where RSS beyond the live heap goes: V8's reserved-but-free heap pages, and memory outside the JS heap
    heapTotalMb: Math.round(heapTotal / 2 ** 20),
    externalMb: Math.round(external / 2 ** 20),
    arrayBuffersMb: Math.round(arrayBuffers / 2 ** 20),
    spacesMb,
    // --rest: the same difference with both ends read at rest (see rest())
    ...(atRest
      ? {
          restBaseSeconds,
          restSeconds,
          restBaseRssMb: Math.round(restBaseRssMb),
          restRssMb: Math.round(restRssMb),
          restBytesPerPod: Math.round(((restRssMb - restBaseRssMb) * 2 ** 20) / Math.max(1, counts.pods)),
          restHeapBytesPerPod: Math.round((restHeapUsed - restBaseHeapUsed) / Math.max(1, counts.pods)),
          restSpacesMb,
        }
      : {}),
    sync,
    pageSize,
    listResourceVersion,
    lists: Object.fromEntries(
      Object.entries(lists).map(([resource, c]) => [
        resource,
        {
          method: c.method,
          pages: c.pages,
          items: c.items,
          mb: Math.round((c.bytes / 2 ** 20) * 10) / 10,
          ttfbS: seconds(c.ttfbMs),
          maxTtfbMs: Math.round(c.maxTtfbMs),
          bodyS: seconds(c.bodyMs),
          parseS: seconds(c.parseMs),
          trimS: seconds(c.trimMs),
          wallS: seconds(c.wallMs),
        },
      ]),
    ),
    apiServer,
  };
  process.stdout.write(JSON.stringify(out) + '\n');
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`probe failed: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
