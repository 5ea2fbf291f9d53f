/**
 * Child process: the live heap the guard's caches hold for a `bench scale`-shaped world, without a test bed. Builds
 * N pods, N SpiderEndpoints, 20 pools x N/20 records, M kubelet Nodes and K SpiderReservedIPs as the API server
 * serves them (uuid uids, server-filled fields), serialises them into LIST pages of 500, and feeds every page through
 * what the informers do (lazyList, the trim, IndexedView). Prints one JSON line; --snapshot FILE also writes a V8
 * heap snapshot after the full collection. Run with --expose-gc.
 *
 *   node --expose-gc --import tsx bench/scale/heap-probe.ts [--pods N] [--nodes M] [--reserved-ips K] [--unsorted]
 *        [--terminating] [--snapshot F]
 */
import { randomUUID } from 'node:crypto';
import { getHeapSpaceStatistics, writeHeapSnapshot } from 'node:v8';
import { parseArgs } from 'node:util';
import { lazyList } from '../../webhook/cluster/lazy-list';
import {
  IndexedView,
  PodTombstones,
  endpointFacts,
  nodeFacts,
  podFacts,
  poolFacts,
  reservedIpFacts,
} from '../../webhook/model';
import { kubeletNode } from './kubelet-node';
import { POOLS, endpointBody, nsOf, podBody, poolBody, poolStatus, reservedIP } from './world';

type Obj = Record<string, unknown>;
const PAGE = 500;
const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});

/**
 * The i-th pod as the API server returns the one populate creates: uid and defaults filled in, Pending (no kubelet).
 * `terminating`: deleted too, as in worlds populated before the test bed ran without the garbage collector (it
 * deleted every pod, whose owner ReplicaSet does not exist, and without a kubelet the deletion never completes).
 */
function pod(i: number, uid: string, terminating: boolean): Obj {
  const { metadata, spec } = podBody(i);
  const deletion = {
    deletionTimestamp: `2026-12-07T03:${String(10 + Math.floor(i / 6000)).padStart(2, '0')}:22Z`,
    deletionGracePeriodSeconds: 30,
  };
  return {
    metadata: {
      ...metadata,
      namespace: nsOf(i),
      uid,
      resourceVersion: String(2_000_000 + i),
      creationTimestamp: '2026-12-07T03:09:52Z',
      ...(terminating ? deletion : {}),
    },
    spec: {
      ...spec,
      restartPolicy: 'Always',
      terminationGracePeriodSeconds: 30,
      dnsPolicy: 'ClusterFirst',
      serviceAccountName: 'default',
      schedulerName: 'default-scheduler',
    },
    status: { phase: 'Pending', qosClass: 'BestEffort' },
  };
}

function endpoint(i: number, podUid: string): Obj {
  const e = endpointBody(i, podUid);
  return {
    ...e,
    metadata: { ...e.metadata, namespace: nsOf(i), uid: randomUUID(), resourceVersion: String(3_000_000 + i) },
  };
}

function pool(p: number, pods: number, uids: string[], sorted: boolean): Obj {
  const body = poolBody(p);
  return {
    ...body,
    metadata: { ...body.metadata, uid: randomUUID(), resourceVersion: String(4_000_000 + p) },
    status: poolStatus(p, pods, uids, sorted),
  };
}

const reserved = (i: number): Obj => {
  const r = reservedIP(i);
  return { ...r, metadata: { ...(r.metadata as Obj), uid: randomUUID() } };
};

/** Feeds the objects of one LIST page to `upsert`, its text parsed item by item (lazyList), as the reflector does. */
function feedPage(from: number, count: number, make: (i: number) => Obj, upsert: (o: Obj) => void): void {
  const items: Obj[] = [];
  for (let i = from; i < Math.min(count, from + PAGE); i++) items.push(make(i));
  const text = JSON.stringify({ kind: 'List', metadata: { resourceVersion: '1' }, items });
  for (const o of lazyList(text).items()) upsert(o);
}

function feed(count: number, make: (i: number) => Obj, upsert: (o: Obj) => void): void {
  for (let from = 0; from < count; from += PAGE) feedPage(from, count, make, upsert);
}

function main(): void {
  const { values } = parseArgs({
    options: {
      pods: { type: 'string' },
      nodes: { type: 'string' },
      'reserved-ips': { type: 'string' },
      snapshot: { type: 'string' },
      unsorted: { type: 'boolean' },
      terminating: { type: 'boolean' },
    },
  });
  const pods = Number(values.pods ?? 100_000);
  const nodes = Number(values.nodes ?? 5004);
  const reservedCount = Number(values['reserved-ips'] ?? 1000);
  gc();
  gc();
  const before = process.memoryUsage().heapUsed;
  const beforeRss = process.memoryUsage().rss;
  // the pods' uids, as the API server assigned them (garbage once the world is fed: each object parses its own)
  const uids = Array.from({ length: pods }, () => randomUUID());
  const view = new IndexedView(new PodTombstones());
  view.trackNodes();
  // in the order the reflectors deliver them: the pools' single page first, then pod and endpoint pages interleaved
  feed(
    POOLS,
    (p) => pool(p, pods, uids, !(values.unsorted ?? false)),
    (o) => view.upsertPool(poolFacts(o)),
  );
  for (let from = 0; from < pods; from += PAGE) {
    feedPage(
      from,
      pods,
      (i) => pod(i, uids[i], values.terminating ?? false),
      (o) => view.upsertPod(podFacts(o)),
    );
    feedPage(
      from,
      pods,
      (i) => endpoint(i, uids[i]),
      (o) => view.upsertEndpoint(endpointFacts(o)),
    );
  }
  feed(nodes, kubeletNode, (o) => view.upsertNode(nodeFacts(o)));
  feed(reservedCount, reserved, (o) => view.upsertReservedIP(reservedIpFacts(o)));
  uids.length = 0;
  gc();
  gc();
  const after = process.memoryUsage().heapUsed;
  const spacesMb = Object.fromEntries(
    getHeapSpaceStatistics().map((s) => [
      s.space_name,
      `${Math.round(s.space_size / 2 ** 20)}/${Math.round(s.space_used_size / 2 ** 20)}`,
    ]),
  );
  if (values.snapshot) writeHeapSnapshot(values.snapshot);
  process.stdout.write(
    JSON.stringify({
      ...view.counts(),
      heapBytesPerPod: Math.round((after - before) / pods),
      rssBytesPerPod: Math.round((process.memoryUsage().rss - beforeRss) / pods),
      heapUsedMb: Math.round(after / 2 ** 20),
      spacesMb,
    }) + '\n',
  );
  // keep the view alive through the snapshot
  if (view.counts().pods < 0) process.stdout.write('');
}

main();
