// AdmissionReview v1 envelope: decoding (zod), the response shapes the handler builds, and encoding. Deciding
// happens elsewhere.
import { z } from 'zod';
import { GuardRequest } from '../guard';

const groupVersionResource = z.object({ group: z.string(), version: z.string(), resource: z.string() });
const kubeObject = z.record(z.string(), z.unknown());

const requestSchema = z.looseObject({
  uid: z.string().min(1),
  kind: z.looseObject({ group: z.string(), version: z.string(), kind: z.string() }).optional(),
  resource: groupVersionResource,
  subResource: z.string().optional(),
  name: z.string().optional(),
  namespace: z.string().optional(),
  operation: z.enum(['CREATE', 'UPDATE', 'DELETE', 'CONNECT']),
  userInfo: z.looseObject({ username: z.string().optional(), groups: z.array(z.string()).optional() }),
  object: kubeObject.nullable().optional(),
  oldObject: kubeObject.nullable().optional(),
  dryRun: z.boolean().optional(),
});

const reviewSchema = z.looseObject({
  apiVersion: z.literal('admission.k8s.io/v1'),
  kind: z.literal('AdmissionReview'),
  request: requestSchema,
});

export class ReviewDecodeError extends Error {}

/** Validates the envelope and returns the guard's view of the request; throws ReviewDecodeError with a reason. */
export function decodeReview(body: unknown): GuardRequest {
  if (body === undefined || body === null || (typeof body === 'object' && Object.keys(body as object).length === 0)) {
    throw new ReviewDecodeError('empty body: expected an AdmissionReview (admission.k8s.io/v1)');
  }
  const parsed = reviewSchema.safeParse(body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue.path.length ? issue.path.join('.') : '(root)';
    throw new ReviewDecodeError(`invalid AdmissionReview at ${where}: ${issue.message}`);
  }
  const r = parsed.data.request;
  return {
    uid: r.uid,
    operation: r.operation,
    resource: r.resource,
    subResource: r.subResource || undefined,
    name: r.name,
    namespace: r.namespace,
    user: r.userInfo.username ?? '',
    groups: r.userInfo.groups ?? [],
    object: r.object ?? undefined,
    oldObject: r.oldObject ?? undefined,
    dryRun: r.dryRun,
  };
}

export interface AdmissionResponse {
  uid: string;
  allowed: boolean;
  status?: { code: number; reason: string; message: string };
  warnings?: string[];
  auditAnnotations?: Record<string, string>;
  patchType?: 'JSONPatch';
  patch?: string;
}

/** A response before it is bound to its request: the handler sets the uid once, in AdmissionHandler.handle. */
export type Verdict = Omit<AdmissionResponse, 'uid'>;

export function respond(uid: string, verdict: Verdict): AdmissionResponse {
  return { uid, ...verdict };
}

export function allowed(): Verdict {
  return { allowed: true };
}

export function denied(message: string): Verdict {
  return { allowed: false, status: { code: 403, reason: 'Forbidden', message } };
}

/** Fail-closed answer to an internal error. */
export function errored(message: string): Verdict {
  return { allowed: false, status: { code: 500, reason: 'InternalError', message } };
}

/** Allowed with a JSON patch (sent base64-encoded, as the API server expects). */
export function patched(ops: unknown[], auditAnnotations?: Record<string, string>): Verdict {
  const v: Verdict = { allowed: true, patchType: 'JSONPatch', patch: Buffer.from(JSON.stringify(ops)).toString('base64') };
  if (auditAnnotations) v.auditAnnotations = auditAnnotations;
  return v;
}

/** The verdict with warnings shown to the client (none: unchanged). */
export function withWarnings(v: Verdict, warnings: string[]): Verdict {
  return warnings.length ? { ...v, warnings } : v;
}

export interface AdmissionReviewResponse {
  apiVersion: 'admission.k8s.io/v1';
  kind: 'AdmissionReview';
  response: AdmissionResponse;
}

export function encodeReview(response: AdmissionResponse): AdmissionReviewResponse {
  return { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response };
}
