// The Kubernetes API names the guard reads and writes, spelled once. Paths, clients, snapshot kinds and the
// reconciler's self-check all build on these.

export const SPIDERPOOL_GROUP = 'spiderpool.spidernet.io';
export const SPIDERPOOL_VERSION = 'v2beta1';
export const SPIDERPOOL_API_VERSION = `${SPIDERPOOL_GROUP}/${SPIDERPOOL_VERSION}`;
export const POOL_RESOURCE = 'spiderippools';
export const ENDPOINT_RESOURCE = 'spiderendpoints';
export const RESERVED_IP_RESOURCE = 'spiderreservedips';

export const KUBEVIRT_GROUP = 'kubevirt.io';
export const KUBEVIRT_VERSION = 'v1';
/** IsStaticIPPod compares the controller's apiVersion exactly (kubevirtv1.SchemeGroupVersion), as for apps/v1. */
export const KUBEVIRT_API_VERSION = `${KUBEVIRT_GROUP}/${KUBEVIRT_VERSION}`;
export const KUBEVIRT_API_PREFIX = `${KUBEVIRT_GROUP}/`;
export const VMI_RESOURCE = 'virtualmachineinstances';
export const VM_RESOURCE = 'virtualmachines';
/** The label KubeVirt puts on a VMI's launcher pods. */
export const VIRT_LAUNCHER_SELECTOR = `${KUBEVIRT_GROUP}=virt-launcher`;

/** Paths of the objects read by name or listed cluster-wide (namespace omitted: all namespaces). */
export const apiPaths = {
  pods: (ns?: string) => `/api/v1${ns ? `/namespaces/${ns}` : ''}/pods`,
  statefulSets: (ns?: string) => `/apis/apps/v1${ns ? `/namespaces/${ns}` : ''}/statefulsets`,
  pools: () => `/apis/${SPIDERPOOL_API_VERSION}/${POOL_RESOURCE}`,
  reservedIPs: () => `/apis/${SPIDERPOOL_API_VERSION}/${RESERVED_IP_RESOURCE}`,
  endpoints: (ns?: string) => `/apis/${SPIDERPOOL_API_VERSION}${ns ? `/namespaces/${ns}` : ''}/${ENDPOINT_RESOURCE}`,
  vmis: (ns?: string) => `/apis/${KUBEVIRT_API_VERSION}${ns ? `/namespaces/${ns}` : ''}/${VMI_RESOURCE}`,
  vms: (ns?: string) => `/apis/${KUBEVIRT_API_VERSION}${ns ? `/namespaces/${ns}` : ''}/${VM_RESOURCE}`,
  nodes: () => '/api/v1/nodes',
};
