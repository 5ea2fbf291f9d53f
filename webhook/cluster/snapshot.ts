// A ClusterView from the JSON `kubectl get pods,statefulsets.apps,spiderippools...,spiderendpoints... -A -o json`
// prints (docs/operations.md, Command line). VMIs, VMs, Nodes and SpiderReservedIPs may be included; other kinds are ignored.
import { readFileSync } from 'node:fs';
import {
  KubeObject,
  endpointFacts,
  nodeFacts,
  podFacts,
  poolFacts,
  reservedIpFacts,
  statefulSetFacts,
  vmFacts,
  vmiFacts,
  IndexedView,
  KUBEVIRT_GROUP,
  SPIDERPOOL_GROUP,
} from '../model';

export class SnapshotError extends Error {}

function apiGroup(apiVersion: unknown): string {
  if (typeof apiVersion !== 'string') return '';
  const slash = apiVersion.indexOf('/');
  return slash < 0 ? '' : apiVersion.slice(0, slash);
}

const POOL_KIND = `${SPIDERPOOL_GROUP}/SpiderIPPool`;
const ENDPOINT_KIND = `${SPIDERPOOL_GROUP}/SpiderEndpoint`;
const RESERVED_IP_KIND = `${SPIDERPOOL_GROUP}/SpiderReservedIP`;
const VMI_KIND = `${KUBEVIRT_GROUP}/VirtualMachineInstance`;
const VM_KIND = `${KUBEVIRT_GROUP}/VirtualMachine`;

/** Adds one object to the view when it is a kind the guard reads; returns whether it was used. */
export function addObject(view: IndexedView, item: KubeObject): boolean {
  const group = apiGroup(item.apiVersion);
  switch (`${group}/${String(item.kind)}`) {
    case '/Pod':
      view.upsertPod(podFacts(item));
      return true;
    case 'apps/StatefulSet':
      view.upsertStatefulSet(statefulSetFacts(item));
      return true;
    case POOL_KIND:
      view.upsertPool(poolFacts(item));
      return true;
    case ENDPOINT_KIND:
      view.upsertEndpoint(endpointFacts(item));
      return true;
    case RESERVED_IP_KIND:
      view.upsertReservedIP(reservedIpFacts(item));
      return true;
    case VMI_KIND:
      view.upsertVmi(vmiFacts(item));
      return true;
    case VM_KIND:
      view.upsertVm(vmFacts(item));
      return true;
    case '/Node':
      // a snapshot with Nodes knows them all: a pod's node missing from it does not exist
      view.upsertNode(nodeFacts(item));
      return true;
    default:
      return false;
  }
}

/** Builds a view from decoded snapshot JSON: what `kubectl get ... -o json` prints, a List with items. */
export function viewFromSnapshot(doc: unknown, source = 'snapshot'): IndexedView {
  const o = doc !== null && typeof doc === 'object' && !Array.isArray(doc) ? (doc as KubeObject) : undefined;
  const kind = o && typeof o.kind === 'string' ? o.kind : undefined;
  if (!o || !kind?.endsWith('List') || !Array.isArray(o.items)) {
    const got = doc === null ? 'null' : Array.isArray(doc) ? 'an array' : kind ? `kind ${kind}` : typeof doc;
    throw new SnapshotError(`${source}: expected the kind: List that kubectl get -o json prints, got ${got}`);
  }
  const items = o.items as unknown[];
  const view = new IndexedView();
  items.forEach((item, i) => {
    if (item === null || typeof item !== 'object' || Array.isArray(item)) {
      throw new SnapshotError(`${source}: items[${i}] is not an object`);
    }
    const o = item as KubeObject;
    if (typeof o.kind !== 'string' || typeof o.apiVersion !== 'string') {
      throw new SnapshotError(`${source}: items[${i}] has no kind/apiVersion`);
    }
    addObject(view, o);
  });
  return view;
}

/** The bytes of a file; unreadable files are a SnapshotError naming what the file is. */
export function readFileBytes(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new SnapshotError(
      `cannot read ${what} ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    );
  }
}

export function readJsonFile(path: string, what: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new SnapshotError(
      `cannot read ${what} ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    );
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new SnapshotError(`${what} ${path} is not valid JSON: ${(err as Error).message}`);
  }
}

export function loadSnapshot(path: string): IndexedView {
  return viewFromSnapshot(readJsonFile(path, 'snapshot'), `snapshot ${path}`);
}
