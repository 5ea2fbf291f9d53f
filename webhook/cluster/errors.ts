/** The cluster could not be read (a LIST failed, or the kubeconfig is unusable); the object or file is named. */
export class ClusterReadError extends Error {}
