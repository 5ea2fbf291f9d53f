/**
 * A pod's volumes as directories under `<pod dir>/volumes/<name>`, written like the kubelet's atomic writer: the
 * files live in a timestamped directory, `..data` is a symlink to it and every top-level entry is a symlink into
 * `..data`, so an update (a Secret changed, a token refreshed) swaps all files at once and a reader never sees half
 * of them. The container sees each directory at its mountPath through a bind mount (container.ts).
 *
 * Supported: emptyDir (a plain 0777 directory; medium Memory and sizeLimit are not enforced), secret, configMap,
 * downwardAPI, and projected volumes of those plus serviceAccountToken (TokenRequest with the source's audience and
 * expirationSeconds, bound to the pod, refreshed at 80% of its life). Other volume types make the pod fail to start.
 */
import type * as k8s from '@kubernetes/client-node';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fieldRefValue, resourceFieldValue, tokenRefreshAt, type Allocatable } from './spec';

export interface VolumeSources {
  /** decoded data of a Secret / ConfigMap of the pod's namespace, undefined when it does not exist */
  secret(name: string): Promise<Record<string, string> | undefined>;
  configMap(name: string): Promise<Record<string, string> | undefined>;
  /** TokenRequest for the pod's ServiceAccount */
  token(audience: string | undefined, expirationSeconds: number): Promise<{ token: string; expiresAtMs: number }>;
  now(): number;
  allocatable: Allocatable;
  onError(volume: string, err: Error): void;
}

export class VolumeError extends Error {}

interface FileSpec {
  path: string;
  content: string;
  mode: number;
}

/** Writes `files` into `dir` atomically (the kubelet's ..data symlink swap) and removes what is no longer there. */
export function writeAtomic(dir: string, files: FileSpec[]): void {
  fs.mkdirSync(dir, { recursive: true });
  const stamp = `..${new Date().toISOString().replace(/[:.]/g, '_')}.${process.pid}.${Math.random().toString(36).slice(2, 8)}`;
  const target = path.join(dir, stamp);
  fs.mkdirSync(target, { mode: 0o755 });
  for (const f of files) {
    const file = path.join(target, f.path);
    if (!path.resolve(file).startsWith(target + path.sep))
      throw new VolumeError(`volume item path ${f.path} leaves the volume`);
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o755 });
    fs.writeFileSync(file, f.content, { mode: f.mode });
    fs.chmodSync(file, f.mode);
  }
  const previous = fs.existsSync(path.join(dir, '..data')) ? fs.readlinkSync(path.join(dir, '..data')) : undefined;
  const tmpLink = path.join(dir, '..data_tmp');
  fs.rmSync(tmpLink, { force: true });
  fs.symlinkSync(stamp, tmpLink);
  fs.renameSync(tmpLink, path.join(dir, '..data'));
  const top = new Set(files.map((f) => f.path.split('/')[0]));
  for (const name of top) {
    const link = path.join(dir, name);
    if (!fs.existsSync(link)) fs.symlinkSync(path.join('..data', name), link);
  }
  for (const entry of fs.readdirSync(dir)) {
    if (entry.startsWith('..') || top.has(entry)) continue;
    fs.rmSync(path.join(dir, entry), { recursive: true, force: true });
  }
  if (previous && previous !== stamp) fs.rmSync(path.join(dir, previous), { recursive: true, force: true });
}

function itemsFiles(
  data: Record<string, string>,
  items: k8s.V1KeyToPath[] | undefined,
  defaultMode: number,
  what: string,
): FileSpec[] {
  if (!items?.length) return Object.entries(data).map(([k, v]) => ({ path: k, content: v, mode: defaultMode }));
  return items.map((it) => {
    if (data[it.key] === undefined) throw new VolumeError(`${what}: key ${it.key} not found`);
    return { path: it.path, content: data[it.key], mode: it.mode ?? defaultMode };
  });
}

function downwardFiles(
  pod: k8s.V1Pod,
  items: k8s.V1DownwardAPIVolumeFile[] | undefined,
  defaultMode: number,
  allocatable: Allocatable,
): FileSpec[] {
  return (items ?? []).map((it) => ({
    path: it.path,
    mode: it.mode ?? defaultMode,
    content: it.fieldRef
      ? fieldRefValue(pod, it.fieldRef.fieldPath)
      : it.resourceFieldRef
        ? resourceFieldValue(it.resourceFieldRef, pod.spec?.containers ?? [], allocatable)
        : '',
  }));
}

/** The volumes of one pod: set up before its containers start, kept current, removed with the pod. */
export class PodVolumes {
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private stopped = false;

  constructor(
    private readonly pod: k8s.V1Pod,
    private readonly root: string,
    private readonly src: VolumeSources,
  ) {}

  dir(volume: string): string {
    return path.join(this.root, volume);
  }

  /** Writes every volume; throws (VolumeError) when one cannot be built, e.g. a missing non-optional Secret. */
  async setup(): Promise<void> {
    for (const v of this.pod.spec?.volumes ?? []) await this.write(v);
  }

  /** Rewrites the volumes that use Secret/ConfigMap `name` (called when the object changed). */
  async refresh(kind: 'Secret' | 'ConfigMap', name: string): Promise<void> {
    for (const v of this.pod.spec?.volumes ?? []) {
      if (this.stopped || !usesObject(v, kind, name)) continue;
      try {
        await this.write(v);
      } catch (err) {
        this.src.onError(v.name, err as Error);
      }
    }
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
  }

  private async write(v: k8s.V1Volume): Promise<void> {
    const dir = this.dir(v.name);
    if (v.emptyDir) {
      fs.mkdirSync(dir, { recursive: true });
      fs.chmodSync(dir, 0o777);
      return;
    }
    if (v.secret) {
      const data = await this.src.secret(v.secret.secretName ?? '');
      if (!data && !v.secret.optional)
        throw new VolumeError(`volume ${v.name}: Secret ${v.secret.secretName} not found`);
      writeAtomic(
        dir,
        itemsFiles(
          data ?? {},
          v.secret.items,
          v.secret.defaultMode ?? 0o644,
          `volume ${v.name}: Secret ${v.secret.secretName}`,
        ),
      );
      return;
    }
    if (v.configMap) {
      const data = await this.src.configMap(v.configMap.name ?? '');
      if (!data && !v.configMap.optional)
        throw new VolumeError(`volume ${v.name}: ConfigMap ${v.configMap.name} not found`);
      writeAtomic(
        dir,
        itemsFiles(
          data ?? {},
          v.configMap.items,
          v.configMap.defaultMode ?? 0o644,
          `volume ${v.name}: ConfigMap ${v.configMap.name}`,
        ),
      );
      return;
    }
    if (v.downwardAPI) {
      writeAtomic(
        dir,
        downwardFiles(this.pod, v.downwardAPI.items, v.downwardAPI.defaultMode ?? 0o644, this.src.allocatable),
      );
      return;
    }
    if (v.projected) {
      writeAtomic(dir, await this.projectedFiles(v));
      return;
    }
    throw new VolumeError(
      `volume ${v.name}: type not supported by the test bed runner (${Object.keys(v)
        .filter((k) => k !== 'name')
        .join(',')})`,
    );
  }

  private async projectedFiles(v: k8s.V1Volume): Promise<FileSpec[]> {
    const mode = v.projected?.defaultMode ?? 0o644;
    const files: FileSpec[] = [];
    let refreshAt: number | undefined;
    for (const s of v.projected?.sources ?? []) {
      if (s.serviceAccountToken) {
        const t = s.serviceAccountToken;
        const issued = this.src.now();
        const { token, expiresAtMs } = await this.src.token(t.audience || undefined, t.expirationSeconds ?? 3600);
        files.push({ path: t.path, content: token, mode });
        const at = tokenRefreshAt(issued, expiresAtMs);
        refreshAt = refreshAt === undefined ? at : Math.min(refreshAt, at);
      } else if (s.secret) {
        const data = await this.src.secret(s.secret.name ?? '');
        if (!data && !s.secret.optional) throw new VolumeError(`volume ${v.name}: Secret ${s.secret.name} not found`);
        files.push(...itemsFiles(data ?? {}, s.secret.items, mode, `volume ${v.name}: Secret ${s.secret.name}`));
      } else if (s.configMap) {
        const data = await this.src.configMap(s.configMap.name ?? '');
        if (!data && !s.configMap.optional)
          throw new VolumeError(`volume ${v.name}: ConfigMap ${s.configMap.name} not found`);
        files.push(
          ...itemsFiles(data ?? {}, s.configMap.items, mode, `volume ${v.name}: ConfigMap ${s.configMap.name}`),
        );
      } else if (s.downwardAPI) {
        files.push(...downwardFiles(this.pod, s.downwardAPI.items, mode, this.src.allocatable));
      } else {
        throw new VolumeError(
          `volume ${v.name}: projected source ${Object.keys(s).join(',')} not supported by the test bed runner`,
        );
      }
    }
    if (refreshAt !== undefined) this.schedule(v, refreshAt);
    return files;
  }

  private schedule(v: k8s.V1Volume, at: number): void {
    clearTimeout(this.timers.get(v.name));
    if (this.stopped) return;
    const timer = setTimeout(
      () => {
        this.timers.delete(v.name);
        if (this.stopped) return;
        this.write(v).catch((err: Error) => {
          this.src.onError(v.name, err);
          this.schedule(v, this.src.now() + 10_000); // the kubelet retries too
        });
      },
      Math.max(0, at - this.src.now()),
    );
    timer.unref();
    this.timers.set(v.name, timer);
  }
}

function usesObject(v: k8s.V1Volume, kind: 'Secret' | 'ConfigMap', name: string): boolean {
  if (kind === 'Secret' && v.secret?.secretName === name) return true;
  if (kind === 'ConfigMap' && v.configMap?.name === name) return true;
  return (v.projected?.sources ?? []).some((s) =>
    kind === 'Secret' ? s.secret?.name === name : s.configMap?.name === name,
  );
}
