/**
 * Child process of `bench -- scale --node-cache`: what the guard's Node cache keeps per node. It builds N Node
 * objects shaped like a kubelet's (labels, annotations, 40 images, conditions, addresses, capacity; every 10th node
 * tainted, every 20th NotReady), serialises each to the JSON text a watch event carries, then feeds them through
 * exactly what the node reflector does per event (JSON.parse, nodeFacts, IndexedView.upsertNode) and reads the
 * live JS heap after a full collection. Prints one JSON line. Run with --expose-gc.
 *
 *   node --expose-gc --import tsx bench/scale/node-probe.ts <nodes>
 */
import { nodeFacts } from '../../webhook/model/object-facts';
import { IndexedView } from '../../webhook/model/view';
import { kubeletNode } from './kubelet-node';

const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});

function main(): void {
  const n = Number(process.argv[2] ?? 5000);
  const view = new IndexedView();
  view.trackNodes();
  gc();
  gc();
  const before = process.memoryUsage().heapUsed;
  let eventBytes = 0;
  for (let i = 0; i < n; i++) {
    // the watch event's text, as the reflector receives it; garbage once applied, as in the reflector
    const text = JSON.stringify(kubeletNode(i));
    eventBytes += text.length;
    view.upsertNode(nodeFacts(JSON.parse(text) as Record<string, unknown>));
  }
  gc();
  gc();
  const after = process.memoryUsage().heapUsed;
  let tainted = 0;
  for (const node of view.allNodes()) if (node.taints.length) tainted++;
  process.stdout.write(
    JSON.stringify({
      nodes: view.counts().nodes,
      tainted,
      eventBytesPerNode: Math.round(eventBytes / n),
      heapBytesPerNode: Math.round((after - before) / n),
    }) + '\n',
  );
}

main();
