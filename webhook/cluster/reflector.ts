// A list+watch loop that keeps only trimmed facts. client-node's informer caches whole objects (a pod is often
// tens of KiB) and stops for good after an error; this one keeps names only, re-watches from the last
// resourceVersion, relists on 410 Gone, and retries with capped exponential backoff.
import { isGone } from '../../lib/api-errors';
import { KubeConfig, Watch } from '@kubernetes/client-node';
import { Logger } from '../log';
import { KubeObject } from '../model';

export interface ListPage {
  items: KubeObject[];
  resourceVersion: string;
  continueToken?: string;
}

export interface ReflectorSpec {
  /** for logs and metrics: "pods", "spiderippools", ... */
  name: string;
  /** watch path, e.g. /api/v1/pods */
  path: string;
  list(continueToken: string | undefined): Promise<ListPage>;
  upsert(o: KubeObject): void;
  remove(namespace: string, name: string): void;
  /**
   * The cache stops following the server: a list begins (first sync, 410 Gone, retry) or a list/watch failed and a
   * retry waits. Events may be missed until the next list completes; what was learnt from events alone (pod
   * tombstones) is dropped here.
   */
  onGap?(): void;
}

export type ChangeListener = (kind: string, type: 'ADDED' | 'MODIFIED' | 'DELETED', o: KubeObject) => void;

function keyOf(o: KubeObject): { key: string; namespace: string; name: string } {
  const m = (o.metadata ?? {}) as { namespace?: string; name?: string };
  const namespace = m.namespace ?? '';
  const name = m.name ?? '';
  return { key: `${namespace}/${name}`, namespace, name };
}

export class Reflector {
  private keys = new Set<string>();
  private resourceVersion = '';
  private abort?: AbortController;
  private stopped = false;
  private backoffMs = 0;
  private timer?: NodeJS.Timeout;
  synced = false;
  lastError?: string;

  constructor(
    private readonly kc: KubeConfig,
    private readonly spec: ReflectorSpec,
    private readonly log: Logger,
    private readonly onChange?: ChangeListener,
    private readonly maxBackoffMs = 30_000,
  ) {}

  start(): void {
    void this.relist();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.abort?.abort();
  }

  private retryLater(what: string, err: unknown, next: () => void): void {
    if (this.stopped) return;
    this.spec.onGap?.();
    this.backoffMs = Math.min(this.maxBackoffMs, this.backoffMs ? this.backoffMs * 2 : 500);
    this.lastError = `${what}: ${(err as Error)?.message ?? String(err)}`;
    this.log.warn({ reflector: this.spec.name, err: this.lastError, retryInMs: this.backoffMs }, 'list/watch failed, retrying');
    this.timer = setTimeout(next, this.backoffMs);
  }

  private async relist(): Promise<void> {
    if (this.stopped) return;
    try {
      this.spec.onGap?.();
      const { seen, rv } = await this.listAll();
      for (const key of this.keys) {
        if (seen.has(key)) continue;
        const slash = key.indexOf('/');
        this.spec.remove(key.slice(0, slash), key.slice(slash + 1));
      }
      this.keys = seen;
      this.resourceVersion = rv;
      this.synced = true;
      this.backoffMs = 0;
      this.lastError = undefined;
      await this.watch();
    } catch (err) {
      this.retryLater('list', err, () => void this.relist());
    }
  }

  /** Every page of a paginated list, applied as it arrives (one page of trimmed facts in memory, not the whole list). */
  private async listAll(): Promise<{ seen: Set<string>; rv: string }> {
    const seen = new Set<string>();
    let token: string | undefined;
    let rv: string;
    do {
      const page = await this.spec.list(token);
      for (const o of page.items) {
        this.spec.upsert(o);
        seen.add(keyOf(o).key);
      }
      rv = page.resourceVersion;
      token = page.continueToken || undefined;
    } while (token);
    return { seen, rv };
  }

  private async watch(): Promise<void> {
    if (this.stopped) return;
    let gone = false;
    const onEvent = (type: string, o: KubeObject) => {
      if (type === 'BOOKMARK') {
        const rv = (o.metadata as { resourceVersion?: string } | undefined)?.resourceVersion;
        if (rv) this.resourceVersion = rv;
        return;
      }
      if (type === 'ERROR') {
        if (isGone(o)) gone = true;
        return;
      }
      const { key, namespace, name } = keyOf(o);
      const rv = (o.metadata as { resourceVersion?: string } | undefined)?.resourceVersion;
      if (rv) this.resourceVersion = rv;
      if (type === 'DELETED') {
        this.keys.delete(key);
        this.spec.remove(namespace, name);
      } else if (type === 'ADDED' || type === 'MODIFIED') {
        this.keys.add(key);
        this.spec.upsert(o);
      } else return;
      this.onChange?.(this.spec.name, type, o);
    };
    const onDone = (err: unknown) => {
      if (this.stopped) return;
      if (gone || isGone(err)) {
        this.log.info({ reflector: this.spec.name }, 'watch expired (410), relisting');
        void this.relist();
      } else if (err) this.retryLater('watch', err, () => void this.relist());
      else void this.watch(); // the server closed the watch normally: resume from the last resourceVersion
    };
    try {
      this.abort = await new Watch(this.kc).watch(
        this.spec.path,
        { resourceVersion: this.resourceVersion, allowWatchBookmarks: true },
        onEvent,
        onDone,
      );
    } catch (err) {
      this.retryLater('watch', err, () => void this.relist());
    }
  }
}
