// Loading a kubeconfig file for the CLI's one-off cluster reads (check, reconcile).
import * as k8s from '@kubernetes/client-node';
import { ClusterReadError } from './errors';

/** Loads a kubeconfig file (CLI --kubeconfig); an unusable file is exit 2 with one line. */
export function loadKubeConfigFile(path: string): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  try {
    kc.loadFromFile(path);
  } catch (err) {
    throw new ClusterReadError(`cannot load kubeconfig ${path}: ${(err as Error).message}`);
  }
  if (!kc.getCurrentCluster()) throw new ClusterReadError(`kubeconfig ${path} has no current cluster`);
  return kc;
}
