// Issue #9 item 10 (unit part): property-based fuzzing of the real admission HTTP app (express, the body reader, the
// decoder, the handler, the guard) in-process. At least 10,000 generated malformed or hostile AdmissionReviews; every
// answer is a 400 with a JSON reason, a 413/415/429 as designed, or a valid AdmissionReview within the v2 bounds, and
// nothing crashes or answers 5xx.
import { testHandler } from '../support/handler';
import fc from 'fast-check';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createAdmissionApp } from '../../../webhook/admission/server';
import { decodeReview, decodeWellFormed, decodeWithSchema } from '../../../webhook/admission/envelope';
import { MemoryAuditSink } from '../../../webhook/audit/sink';
import { Mode } from '../../../webhook/guard/policy';
import { createLogger } from '../../../webhook/log/logger';
import {
  CONTROLLER_USER,
  Json,
  Records,
  endpoint,
  endpointReview,
  ipv4Range,
  pod,
  poolStatusReview,
  rec,
  uid,
  v4Pool,
  viewOf,
} from '../../../testbed/fixtures';

const RUNS = 10_000;
const LIVE = 30; // live records a generated write may release (message and audit caps are reached with the malformed keys too)
const ips = ipv4Range('10.6.1.1', LIVE);
const records: Records = Object.fromEntries(ips.map((ip, i) => [ip, rec(`demo/web-${i}`, uid(`web-${i}`))]));
const pods = ips.map((ip, i) => pod({ name: `web-${i}`, uid: uid(`web-${i}`), ips: [ip] }));
const basePool = v4Pool(records);
const view = viewOf(
  ...pods,
  basePool,
  endpoint({ name: 'web-0', podUid: uid('web-0'), nics: [{ ipv4: `${ips[0]}/16`, ipv4Pool: 'v4-pool' }] }),
);

let server: http.Server;
let agent: http.Agent;
let audit: MemoryAuditSink;
const modes: Mode[] = ['enforce', 'warn', 'audit'];
const handlers: Record<string, http.RequestListener> = {};

beforeAll(async () => {
  audit = new MemoryAuditSink();
  const log = createLogger('silent');
  for (const mode of modes) {
    const handler = testHandler(view, { mode, audit, log });
    handlers[mode] = createAdmissionApp(handler, { checks: () => ({}) }, log) as unknown as http.RequestListener;
  }
  // one listener, the policy chosen per request (a header only this test sends), so one server serves all modes
  server = http.createServer((req, res) => handlers[String(req.headers['x-fuzz-mode'] ?? 'enforce')](req, res));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
});

afterAll(async () => {
  agent.destroy();
  await new Promise<void>((r) => server.close(() => r()));
});

interface Sent {
  body: Buffer;
  contentType: string;
  mode: Mode;
  query: string;
}

function send(s: Sent): Promise<{ status: number; text: string }> {
  const port = (server.address() as AddressInfo).port;
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: `/validate/spiderippools${s.query}`,
        agent,
        headers: { 'content-type': s.contentType, 'content-length': s.body.length, 'x-fuzz-mode': s.mode },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
      },
    );
    req.on('error', reject);
    req.end(s.body);
  });
}

// ------------------------------------------------------------------------------------------------ generators

const hostileString = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 20 }),
  fc.integer({ min: 257, max: 2000 }).map((n) => 'x'.repeat(n)),
  fc.constantFrom('', '\n', 'a\nLIVE_IP_RELEASE: forged', '\u2028', '../../etc', '\ufeff', '\u0000'),
);

const jsonish: fc.Arbitrary<unknown> = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }),
  hostileString,
  fc.constant(null),
  fc.constant(undefined),
);

/** A live-record release of k records (k up to LIVE), optionally with malformed keys, a rewrite or an allocation. */
const poolReview = fc
  .record({
    release: fc.integer({ min: 0, max: LIVE }),
    malformed: fc.array(fc.tuple(hostileString, jsonish), { maxLength: 40 }),
    rawAllocatedIPs: fc.option(jsonish, { freq: 8 }),
    user: fc.oneof(fc.constant(CONTROLLER_USER), hostileString),
  })
  .map(({ release, malformed, rawAllocatedIPs, user }) => {
    const kept: Record<string, unknown> = Object.fromEntries(Object.entries(records).slice(release));
    for (const [k, v] of malformed) kept[k] = v;
    const next = v4Pool({}, Object.keys(kept).length);
    (next.status as Json).allocatedIPs = rawAllocatedIPs !== null ? rawAllocatedIPs : JSON.stringify(kept);
    return poolStatusReview(basePool, next, user) as Json;
  });

const endpointDoc = fc.constantFrom<'CREATE' | 'UPDATE' | 'DELETE'>('CREATE', 'UPDATE', 'DELETE').map((op) => {
  const ep = endpoint({ name: 'web-0', podUid: uid('web-0'), nics: [{ ipv4: `${ips[0]}/16`, ipv4Pool: 'v4-pool' }] });
  return endpointReview(
    op,
    op === 'DELETE' ? { oldObject: ep } : op === 'CREATE' ? { object: ep } : { object: ep, oldObject: ep },
  ) as Json;
});

/** Sets a value at a path of the review (creating objects on the way), as a hostile or broken client would. */
function setAt(doc: Json, path: string[], value: unknown): Json {
  const copy = structuredClone(doc);
  let cur: Record<string, unknown> = copy;
  for (const k of path.slice(0, -1)) {
    if (cur[k] === null || typeof cur[k] !== 'object') cur[k] = {};
    cur = cur[k] as Record<string, unknown>;
  }
  cur[path[path.length - 1]] = value;
  return copy;
}

const PATHS = [
  ['apiVersion'],
  ['kind'],
  ['request'],
  ['request', 'uid'],
  ['request', 'name'],
  ['request', 'namespace'],
  ['request', 'operation'],
  ['request', 'resource'],
  ['request', 'resource', 'group'],
  ['request', 'subResource'],
  ['request', 'userInfo'],
  ['request', 'userInfo', 'username'],
  ['request', 'userInfo', 'groups'],
  ['request', 'object'],
  ['request', 'oldObject'],
  ['request', 'object', 'metadata', 'name'],
  ['request', 'object', 'spec', 'subnet'],
  ['request', 'object', 'status'],
  ['request', 'oldObject', 'status', 'allocatedIPs'],
  ['request', 'dryRun'],
];

const mutatedDoc = fc
  .tuple(fc.oneof(poolReview, endpointDoc), fc.array(fc.tuple(fc.constantFrom(...PATHS), jsonish), { maxLength: 3 }))
  .map(([doc, edits]) => edits.reduce((d, [p, v]) => setAt(d, p, v), doc));

const bodyOf = fc.oneof(
  { weight: 6, arbitrary: mutatedDoc.map((d) => Buffer.from(JSON.stringify(d))) },
  { weight: 1, arbitrary: mutatedDoc.map((d) => Buffer.from('\ufeff' + JSON.stringify(d))) },
  {
    weight: 1,
    arbitrary: fc.tuple(mutatedDoc, fc.nat()).map(([d, n]) => {
      const t = JSON.stringify(d);
      return Buffer.from(t.slice(0, n % (t.length + 1)));
    }),
  },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 4 }).map((v) => Buffer.from(JSON.stringify(v) ?? '')) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)) },
);

const sent: fc.Arbitrary<Sent> = fc.record({
  body: bodyOf,
  contentType: fc.oneof(
    { weight: 12, arbitrary: fc.constant('application/json') },
    {
      weight: 1,
      arbitrary: fc.constantFrom(
        'text/plain',
        '',
        'application/json; charset=utf-8',
        'application/json; charset=utf-16',
      ),
    },
  ),
  mode: fc.constantFrom(...modes),
  query: fc.oneof(
    { weight: 4, arbitrary: fc.constant('?timeout=10s') },
    { weight: 1, arbitrary: fc.constantFrom('', '?timeout=1s', '?timeout=garbage', '?timeout=-5s', '?timeout=1h') },
  ),
});

// ------------------------------------------------------------------------------------------------ the property

function requestUidOf(body: Buffer): unknown {
  try {
    return (JSON.parse(body.toString('utf8').replace(/^\ufeff/, '')) as { request?: { uid?: unknown } }).request?.uid;
  } catch {
    return undefined;
  }
}

test(`${RUNS} generated hostile or malformed reviews: no crash, no 5xx, every answer a JSON 400, a 413/415/429 or a bounded AdmissionReview`, async () => {
  const seen: Record<number, number> = {};
  await fc.assert(
    fc.asyncProperty(sent, async (s) => {
      const before = audit.events.length;
      const r = await send(s);
      seen[r.status] = (seen[r.status] ?? 0) + 1;
      expect(r.status).toBeLessThan(500);
      if (r.status !== 200) {
        expect([400, 413, 415, 429]).toContain(r.status);
        expect(typeof (JSON.parse(r.text) as { error?: unknown }).error).toBe('string');
        expect(audit.events.length).toBe(before);
        return;
      }
      const doc = JSON.parse(r.text) as {
        apiVersion: string;
        kind: string;
        response: {
          uid: string;
          allowed: boolean;
          status?: { code: number; message: string };
          warnings?: string[];
          auditAnnotations?: Record<string, string>;
        };
      };
      expect(doc.apiVersion).toBe('admission.k8s.io/v1');
      expect(doc.kind).toBe('AdmissionReview');
      expect(doc.response.uid).toBe(requestUidOf(s.body));
      expect(typeof doc.response.allowed).toBe('boolean');
      if (doc.response.status) {
        expect(doc.response.allowed).toBe(false);
        expect(doc.response.status.message.split('\n').length).toBeLessThanOrEqual(21);
      }
      expect((doc.response.warnings ?? []).length).toBeLessThanOrEqual(20);
      for (const v of Object.values(doc.response.auditAnnotations ?? {})) expect(v.length).toBeLessThanOrEqual(1024);
      const lines = audit.events.slice(before);
      expect(lines.length).toBeLessThanOrEqual(101);
      for (const e of lines) {
        for (const name of [
          e.requestUID,
          e.name,
          e.namespace,
          e.user,
          e.ip ?? '',
          e.pool ?? '',
          e.record?.pod ?? '',
          e.record?.podUid ?? '',
          e.livePod?.name ?? '',
          e.livePod?.uid ?? '',
          ...e.groups,
        ]) {
          expect(name.length).toBeLessThanOrEqual(256);
        }
      }
      audit.events.length = 0;
    }),
    { numRuns: RUNS },
  );
  // the generators reach both sides: decided reviews and refused ones
  expect(seen[200]).toBeGreaterThan(RUNS / 10);
  expect(seen[400]).toBeGreaterThan(RUNS / 10);
}, 240_000);

// decodeReview checks a well-formed review by hand and leaves everything else to the schema: both ways must give the
// same request (or the same reason) for every review, including the fields the hand check looks at one by one.
const DECODED_PATHS = [
  ...PATHS,
  ['request', 'kind'],
  ['request', 'kind', 'kind'],
  ['request', 'resource', 'version'],
  ['request', 'resource', 'resource'],
];
// values at the edge of what each field accepts, often enough to meet every check
const edgeValue = fc.constantFrom<unknown>(
  '',
  'x',
  null,
  undefined,
  0,
  false,
  true,
  [],
  {},
  ['a'],
  [1],
  'UPDATE',
  'PATCH',
  'admission.k8s.io/v1',
  'AdmissionReview',
);
const decodedDoc = fc
  .tuple(
    fc.oneof(poolReview, endpointDoc),
    fc.array(fc.tuple(fc.constantFrom(...DECODED_PATHS), fc.oneof(jsonish, edgeValue)), { maxLength: 3 }),
  )
  .map(([doc, edits]) => edits.reduce((d, [p, v]) => setAt(d, p, v), doc));

test('the hand check of well-formed reviews and the schema decode every generated review alike', () => {
  const outcome = (decode: () => unknown) => {
    try {
      return { decoded: decode() };
    } catch (err) {
      return { error: (err as Error).message };
    }
  };
  let byHand = 0;
  const agree = (doc: unknown) => {
    const schema = outcome(() => decodeWithSchema(doc as object));
    expect(outcome(() => decodeReview(doc))).toEqual(schema);
    const byHand = outcome(() => decodeWellFormed(doc as Record<string, unknown>));
    if ('decoded' in byHand && byHand.decoded !== undefined) expect(byHand).toEqual(schema); // what the hand check accepts, the schema accepts alike
  };
  // every field the hand check looks at, set to every edge value, one at a time
  const [pool, ep] = [
    fc.sample(poolReview, { numRuns: 1, seed: 7 })[0],
    fc.sample(endpointDoc, { numRuns: 1, seed: 7 })[0],
  ];
  for (const base of [pool, ep])
    for (const p of DECODED_PATHS)
      for (const v of fc.sample(edgeValue, { numRuns: 60, seed: 1 })) agree(setAt(base, p, v));
  fc.assert(
    fc.property(decodedDoc, (doc) => {
      agree(doc);
      if (doc !== null && typeof doc === 'object' && decodeWellFormed(doc as Record<string, unknown>)) byHand++;
    }),
    { numRuns: 3000 },
  );
  expect(byHand).toBeGreaterThan(300); // the hand check did decide most well-formed reviews
});
