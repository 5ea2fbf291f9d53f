// Loading a kubeconfig for the CLI's one-off cluster reads (check, reconcile).
import * as k8s from '@kubernetes/client-node';
import { ClusterReadError } from './errors';
import { kubeconfigFiles, loadKubeConfigList } from './kubeconfig-list';

/**
 * Loads a kubeconfig file (CLI --kubeconfig), or a KUBECONFIG-style list of files merged as kubectl merges them,
 * and switches to `context` when given (CLI --context); an unusable file or an unknown context is exit 2 with one line.
 */
export function loadKubeConfigFile(path: string, context?: string): k8s.KubeConfig {
  let kc = new k8s.KubeConfig();
  try {
    const files = kubeconfigFiles(path);
    if (files.length > 1) kc = loadKubeConfigList(files);
    else kc.loadFromFile(path);
  } catch (err) {
    throw new ClusterReadError(`cannot load kubeconfig ${path}: ${(err as Error).message}`);
  }
  if (context !== undefined) {
    const names = kc.getContexts().map((c) => c.name);
    if (!names.includes(context)) {
      throw new ClusterReadError(
        `kubeconfig ${path} has no context ${JSON.stringify(context)} (it has: ${names.join(', ') || 'none'})`,
      );
    }
    kc.setCurrentContext(context);
  }
  if (!kc.getCurrentCluster()) throw new ClusterReadError(`kubeconfig ${path} has no current cluster`);
  return kc;
}
