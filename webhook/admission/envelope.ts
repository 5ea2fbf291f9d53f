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

const OPERATIONS: ReadonlySet<unknown> = new Set(requestSchema.shape.operation.options);

/**
 * An object as JSON.parse makes it, in any realm (the only kind the hand check below accepts; anything else goes to
 * zod): an object whose prototype is Object.prototype (or none), and no own "__proto__" key.
 */
function isPlainObject(x: unknown): x is Record<string, unknown> {
  if (typeof x !== 'object' || x === null || Array.isArray(x) || Object.prototype.hasOwnProperty.call(x, '__proto__'))
    return false;
  const proto = Object.getPrototypeOf(x) as object | null;
  return proto === null || Object.getPrototypeOf(proto) === null;
}

const optionalString = (x: unknown) => x === undefined || typeof x === 'string';

/**
 * The schema's checks done by hand for a well-formed review, which is nearly every review: zod's generic walk cost
 * about as much per request as judging a small pool's write. Anything this does not accept is decoded by the schema
 * (same result for what both accept; the schema's reason for what it rejects). Exported for that test.
 */
export function decodeWellFormed(body: Record<string, unknown>): GuardRequest | undefined {
  if (body.apiVersion !== 'admission.k8s.io/v1' || body.kind !== 'AdmissionReview' || !isPlainObject(body.request))
    return undefined;
  const r = body.request;
  if (typeof r.uid !== 'string' || r.uid.length < 1) return undefined;
  const kind = r.kind;
  if (
    kind !== undefined &&
    !(
      isPlainObject(kind) &&
      typeof kind.group === 'string' &&
      typeof kind.version === 'string' &&
      typeof kind.kind === 'string'
    )
  )
    return undefined;
  const resource = r.resource;
  if (
    !isPlainObject(resource) ||
    typeof resource.group !== 'string' ||
    typeof resource.version !== 'string' ||
    typeof resource.resource !== 'string'
  )
    return undefined;
  if (
    !optionalString(r.subResource) ||
    !optionalString(r.name) ||
    !optionalString(r.namespace) ||
    !OPERATIONS.has(r.operation)
  )
    return undefined;
  const userInfo = r.userInfo;
  if (!isPlainObject(userInfo) || !optionalString(userInfo.username)) return undefined;
  const groups = userInfo.groups;
  if (groups !== undefined && !(Array.isArray(groups) && groups.every((g) => typeof g === 'string'))) return undefined;
  const object = r.object;
  const oldObject = r.oldObject;
  if (
    !(object === undefined || object === null || isPlainObject(object)) ||
    !(oldObject === undefined || oldObject === null || isPlainObject(oldObject))
  )
    return undefined;
  if (r.dryRun !== undefined && typeof r.dryRun !== 'boolean') return undefined;
  return guardRequestOf({
    uid: r.uid,
    operation: r.operation as GuardRequest['operation'],
    resource: { group: resource.group, version: resource.version, resource: resource.resource },
    subResource: r.subResource as string | undefined,
    name: r.name as string | undefined,
    namespace: r.namespace as string | undefined,
    userInfo: { username: userInfo.username as string | undefined, groups: groups as string[] | undefined },
    object: object as Record<string, unknown> | null | undefined,
    oldObject: oldObject as Record<string, unknown> | null | undefined,
    dryRun: r.dryRun as boolean | undefined,
  });
}

type DecodedRequest = Pick<
  z.infer<typeof requestSchema>,
  'uid' | 'operation' | 'resource' | 'subResource' | 'name' | 'namespace' | 'object' | 'oldObject' | 'dryRun'
> & {
  userInfo: { username?: string; groups?: string[] };
};

function guardRequestOf(r: DecodedRequest): GuardRequest {
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

/** Validates the decoded envelope and returns the guard's view of the request; throws ReviewDecodeError with a reason. */
export function decodeReview(body: unknown): GuardRequest {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new ReviewDecodeError(`expected an AdmissionReview (admission.k8s.io/v1) object, got ${shapeOf(body)}`);
  }
  if (Object.keys(body).length === 0)
    throw new ReviewDecodeError('empty object: expected an AdmissionReview (admission.k8s.io/v1)');
  return (isPlainObject(body) && decodeWellFormed(body)) || decodeWithSchema(body);
}

/** decodeReview by the schema alone (exported for the test that both ways agree). */
export function decodeWithSchema(body: object): GuardRequest {
  const parsed = reviewSchema.safeParse(body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue.path.length ? issue.path.map(String).join('.') : '(root)';
    throw new ReviewDecodeError(`invalid AdmissionReview at ${cut(where)}: ${cut(issue.message, MAX_DETAIL_CHARS)}`);
  }
  return guardRequestOf(parsed.data.request);
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
  const v: Verdict = {
    allowed: true,
    patchType: 'JSONPatch',
    patch: Buffer.from(JSON.stringify(ops)).toString('base64'),
  };
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
