// A KUBECONFIG-style list of kubeconfig files (joined by ':' on Linux), merged the way kubectl merges them, so that
// `check --kubeconfig "$KUBECONFIG"` (and the kubectl plugin, which passes $KUBECONFIG on) talks to the cluster
// kubectl would: the first file that names a cluster, user or context, or sets current-context, wins; files of
// the list that do not exist are skipped. client-node's own merge differs (the last current-context wins, a name
// defined twice is an error), hence this one.
import * as k8s from '@kubernetes/client-node';
import * as fs from 'node:fs';
import * as path from 'node:path';

/** The files of a KUBECONFIG-style list, in order, empty entries dropped. */
export function kubeconfigFiles(list: string): string[] {
  return list.split(path.delimiter).filter((f) => f !== '');
}

function firstByName<T extends { name: string }>(into: Map<string, T>, items: readonly T[]): void {
  for (const item of items) if (!into.has(item.name)) into.set(item.name, item);
}

/** Loads and merges the files (kubectl's precedence); throws naming the file that cannot be read, or when none exists. */
export function loadKubeConfigList(files: readonly string[]): k8s.KubeConfig {
  const present = files.filter((f) => fs.existsSync(f));
  if (present.length === 0) throw new Error(`none of the kubeconfig files exists: ${files.join(', ')}`);
  const clusters = new Map<string, k8s.Cluster>();
  const users = new Map<string, k8s.User>();
  const contexts = new Map<string, k8s.Context>();
  let currentContext = '';
  for (const file of present) {
    const kc = new k8s.KubeConfig();
    try {
      kc.loadFromFile(file); // relative certificate paths become absolute to the file's directory
    } catch (err) {
      throw new Error(`${file}: ${(err as Error).message}`, { cause: err });
    }
    firstByName(clusters, kc.getClusters());
    firstByName(users, kc.getUsers());
    firstByName(contexts, kc.getContexts());
    if (!currentContext) currentContext = kc.getCurrentContext() ?? '';
  }
  const merged = new k8s.KubeConfig();
  merged.loadFromOptions({
    clusters: [...clusters.values()],
    users: [...users.values()],
    contexts: [...contexts.values()],
    currentContext,
  });
  return merged;
}
