// An in-memory stand-in for the API server behind the reconciler's ReconcileClient and LeaseClient: optimistic
// concurrency (409 on a stale resourceVersion), delete preconditions, finalizers, JSON patch `test` ops (422).
import {
  KubeObject,
  endpointFacts,
  podFacts,
  statefulSetFacts,
  vmFacts,
  vmiFacts,
} from '../../../webhook/model/object-facts';
import { FreshObjects, ObjectRef, emptyFresh } from '../../../webhook/model/view';
import { EventSpec, JsonPatchOp, ReconcileClient } from '../../../webhook/model/ports';
import { Clock } from '../../../webhook/reconciler/clock';
import { LeaseClient, LeaseRecord, StoredLease } from '../../../webhook/model/ports';

export class ApiError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

type Obj = Record<string, unknown>;
const meta = (o: Obj) => o.metadata as Obj;

export class FakeCluster implements ReconcileClient {
  private rv = 100;
  readonly objects = new Map<string, Obj>();
  readonly events: EventSpec[] = [];
  readonly writes: string[] = [];
  /** make the next write of this kind fail with this status */
  failNext: Map<string, number> = new Map();

  constructor(items: Obj[] = []) {
    for (const i of items) this.put(structuredClone(i));
  }

  static keyOf(o: Obj): string {
    const m = meta(o);
    return `${o.kind}/${m.namespace ?? ''}/${m.name}`;
  }

  /** Stores an object as the API server would (new resourceVersion). */
  put(o: Obj): Obj {
    meta(o).resourceVersion = String(++this.rv);
    this.objects.set(FakeCluster.keyOf(o), o);
    return o;
  }

  get(kind: string, namespace: string, name: string): Obj | undefined {
    return this.objects.get(`${kind}/${namespace}/${name}`);
  }

  private clone(o: Obj | undefined): KubeObject | null {
    return o ? (structuredClone(o) as KubeObject) : null;
  }

  private maybeFail(op: string): void {
    const code = this.failNext.get(op);
    if (code !== undefined) {
      this.failNext.delete(op);
      throw new ApiError(code, `injected ${code} on ${op}`);
    }
  }

  async read(refs: ObjectRef[]): Promise<FreshObjects> {
    const fresh = emptyFresh();
    for (const r of refs) {
      const key = `${r.namespace}/${r.name}`;
      if (r.kind === 'pod')
        fresh.pods.set(key, ((o) => (o ? podFacts(o) : null))(this.clone(this.get('Pod', r.namespace, r.name))));
      if (r.kind === 'endpoint')
        fresh.endpoints.set(
          key,
          ((o) => (o ? endpointFacts(o) : null))(this.clone(this.get('SpiderEndpoint', r.namespace, r.name))),
        );
      if (r.kind === 'statefulSet')
        fresh.statefulSets.set(
          key,
          ((o) => (o ? statefulSetFacts(o) : null))(this.clone(this.get('StatefulSet', r.namespace, r.name))),
        );
      if (r.kind === 'vmi')
        fresh.vmis.set(
          key,
          ((o) => (o ? vmiFacts(o) : null))(this.clone(this.get('VirtualMachineInstance', r.namespace, r.name))),
        );
      if (r.kind === 'vm')
        fresh.vms.set(
          key,
          ((o) => (o ? vmFacts(o) : null))(this.clone(this.get('VirtualMachine', r.namespace, r.name))),
        );
    }
    return fresh;
  }

  async getPool(name: string) {
    return this.clone(this.get('SpiderIPPool', '', name));
  }

  async replacePoolStatus(name: string, body: KubeObject) {
    this.maybeFail('replacePoolStatus');
    const cur = this.get('SpiderIPPool', '', name);
    if (!cur) throw new ApiError(404, 'not found');
    if ((body.metadata as Obj).resourceVersion !== meta(cur).resourceVersion)
      throw new ApiError(409, 'the object has been modified');
    const next = { ...cur, status: structuredClone(body.status) };
    this.writes.push(`PUT pool/${name}/status`);
    return this.clone(this.put(next))!;
  }

  async getEndpoint(namespace: string, name: string) {
    return this.clone(this.get('SpiderEndpoint', namespace, name));
  }

  async deleteEndpoint(namespace: string, name: string, pre: { uid: string; resourceVersion: string }) {
    this.maybeFail('deleteEndpoint');
    const cur = this.get('SpiderEndpoint', namespace, name);
    if (!cur) throw new ApiError(404, 'not found');
    const m = meta(cur);
    if (m.uid !== pre.uid)
      throw new ApiError(409, `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${m.uid}`);
    if (m.resourceVersion !== pre.resourceVersion) throw new ApiError(409, 'Precondition failed: ResourceVersion');
    this.writes.push(`DELETE endpoint/${namespace}/${name}`);
    if (Array.isArray(m.finalizers) && m.finalizers.length > 0) {
      this.put({ ...cur, metadata: { ...m, deletionTimestamp: '2024-01-01T00:00:00Z' } });
    } else this.objects.delete(FakeCluster.keyOf(cur));
  }

  async patchEndpoint(namespace: string, name: string, ops: JsonPatchOp[]) {
    const cur = this.get('SpiderEndpoint', namespace, name);
    if (!cur) throw new ApiError(404, 'not found');
    const next = structuredClone(cur);
    for (const op of ops) {
      const parts = op.path.split('/').slice(1);
      let parent: Obj | unknown[] = next;
      for (const p of parts.slice(0, -1)) parent = (parent as Obj)[p] as Obj;
      const last = parts[parts.length - 1];
      const at = Array.isArray(parent) ? parent[Number(last)] : (parent as Obj)[last];
      if (op.op === 'test' && at !== op.value) throw new ApiError(422, `test failed at ${op.path}`);
      if (op.op === 'remove') {
        if (Array.isArray(parent)) parent.splice(Number(last), 1);
        else delete (parent as Obj)[last];
      }
    }
    this.writes.push(`PATCH endpoint/${namespace}/${name}`);
    const m = meta(next);
    if (m.deletionTimestamp && (!Array.isArray(m.finalizers) || m.finalizers.length === 0)) {
      this.objects.delete(FakeCluster.keyOf(cur));
      return this.clone(next)!;
    }
    return this.clone(this.put(next))!;
  }

  async createEvent(e: EventSpec) {
    this.events.push(e);
  }

  /** Pool records as a plain map. */
  records(pool: string): Record<string, { pod: string; podUid: string }> {
    const s = (this.get('SpiderIPPool', '', pool)?.status ?? {}) as Obj;
    return typeof s.allocatedIPs === 'string' ? JSON.parse(s.allocatedIPs) : {};
  }
}

/** A clock whose sleep() advances time instantly (and yields), so loops run without real waiting. */
export class SteppingClock implements Clock {
  constructor(public t = 1_000_000) {}
  now() {
    return this.t;
  }
  async sleep(ms: number, signal?: AbortSignal) {
    if (signal?.aborted) return;
    this.t += ms;
    await new Promise((r) => setImmediate(r));
  }
}

/** A clock advanced by the test only; sleepers wake when time passes their deadline (or on abort). */
export class ManualClock implements Clock {
  private sleepers: { at: number; resolve: () => void }[] = [];
  constructor(public t = 1_000_000) {}
  now() {
    return this.t;
  }
  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      if (signal?.aborted) return resolve();
      const s = { at: this.t + ms, resolve };
      this.sleepers.push(s);
      signal?.addEventListener('abort', () => {
        this.sleepers = this.sleepers.filter((x) => x !== s);
        resolve();
      });
    });
  }
  /** Advances time step by step, letting woken tasks run. */
  async advance(ms: number, step = 50): Promise<void> {
    const end = this.t + ms;
    while (this.t < end) {
      this.t = Math.min(end, this.t + step);
      const due = this.sleepers.filter((s) => s.at <= this.t);
      this.sleepers = this.sleepers.filter((s) => s.at > this.t);
      for (const s of due) s.resolve();
      await flush();
    }
  }
}

export async function flush(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
}

/** An in-memory Lease store with resourceVersion optimistic locking. */
export class FakeLeases implements LeaseClient {
  private rv = 1;
  readonly store = new Map<string, StoredLease>();
  /** when set, every call fails (API server unreachable) */
  down = false;
  async get(ns: string, name: string) {
    if (this.down) throw new Error('connect ECONNREFUSED');
    const l = this.store.get(`${ns}/${name}`);
    return l ? structuredClone(l) : null;
  }
  async create(ns: string, name: string, record: LeaseRecord) {
    if (this.down) throw new Error('connect ECONNREFUSED');
    if (this.store.has(`${ns}/${name}`)) throw new ApiError(409, 'already exists');
    const l = { record: structuredClone(record), resourceVersion: String(++this.rv) };
    this.store.set(`${ns}/${name}`, l);
    return structuredClone(l);
  }
  async update(ns: string, name: string, record: LeaseRecord, resourceVersion: string) {
    if (this.down) throw new Error('connect ECONNREFUSED');
    const cur = this.store.get(`${ns}/${name}`);
    if (!cur) throw new ApiError(404, 'not found');
    if (cur.resourceVersion !== resourceVersion) throw new ApiError(409, 'conflict');
    const l = { record: structuredClone(record), resourceVersion: String(++this.rv) };
    this.store.set(`${ns}/${name}`, l);
    return structuredClone(l);
  }
}
