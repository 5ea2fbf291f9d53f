// The part of an AdmissionReview request the rules read, independent of HTTP and of the envelope's schema.
import { KubeObject, ENDPOINT_RESOURCE, POOL_RESOURCE, SPIDERPOOL_GROUP } from '../model';

export type Operation = 'CREATE' | 'UPDATE' | 'DELETE' | 'CONNECT';

export interface GuardRequest {
  uid: string;
  operation: Operation;
  resource: { group: string; version: string; resource: string };
  subResource?: string;
  name?: string;
  namespace?: string;
  user: string;
  groups: string[];
  object?: KubeObject;
  oldObject?: KubeObject;
  dryRun?: boolean;
}

/** What a request writes, when it is something the guard judges (docs/rules.md, What is intercepted); anything else is allowed untouched. */
export type GuardTarget = 'poolStatus' | 'endpoint';

export function targetOf(req: GuardRequest): GuardTarget | undefined {
  if (req.resource.group !== SPIDERPOOL_GROUP) return undefined;
  if (req.resource.resource === POOL_RESOURCE && req.subResource === 'status' && req.operation === 'UPDATE')
    return 'poolStatus';
  if (
    req.resource.resource === ENDPOINT_RESOURCE &&
    !req.subResource &&
    ['CREATE', 'UPDATE', 'DELETE'].includes(req.operation)
  ) {
    return 'endpoint';
  }
  return undefined;
}
