// AdmissionReview v1 envelope: decoding (zod), the response shapes the handler builds, and encoding. Deciding
// happens elsewhere.
import { z } from 'zod';
import { GuardRequest } from '../guard';
import { MAX_DETAIL_CHARS, cut } from '../../lib/bounds';

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

const UTF8_BOM = '\ufeff';

/**
 * The one decoder of a request body, shared by the server and `review`, so both give the same outcome for every
 * input: bytes (UTF-8, one leading byte-order mark tolerated, as RFC 8259 allows) to a GuardRequest, or a
 * ReviewDecodeError with the reason the server answers with HTTP 400 and `review` prints before exiting 2.
 */
export function decodeReviewBody(body: Buffer | string): GuardRequest {
  let text = typeof body === 'string' ? body : body.toString('utf8');
  if (text.startsWith(UTF8_BOM)) text = text.slice(1);
  if (text.trim() === '') throw new ReviewDecodeError('empty body: expected an AdmissionReview (admission.k8s.io/v1)');
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new ReviewDecodeError(`body is not valid JSON: ${cut((err as Error).message, MAX_DETAIL_CHARS)}`);
  }
  return decodeReview(doc);
}

function shapeOf(doc: unknown): string {
  if (doc === null) return 'null';
  if (Array.isArray(doc)) return 'an array';
  return `a ${typeof doc}`;
}

/** Validates the decoded envelope and returns the guard's view of the request; throws ReviewDecodeError with a reason. */
export function decodeReview(body: unknown): GuardRequest {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new ReviewDecodeError(`expected an AdmissionReview (admission.k8s.io/v1) object, got ${shapeOf(body)}`);
  }
  if (Object.keys(body).length === 0) throw new ReviewDecodeError('empty object: expected an AdmissionReview (admission.k8s.io/v1)');
  const parsed = reviewSchema.safeParse(body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue.path.length ? issue.path.map(String).join('.') : '(root)';
    throw new ReviewDecodeError(`invalid AdmissionReview at ${cut(where)}: ${cut(issue.message, MAX_DETAIL_CHARS)}`);
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
