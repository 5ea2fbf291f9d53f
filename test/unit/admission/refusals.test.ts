// Requests the guard refuses at the HTTP layer, sent as exact bytes over HTTPS to the real server on 127.0.0.1:0:
// a body that is not UTF-8 JSON sent as is (415, or 501 for a transfer coding), and a body over the 16 MiB limit
// (413), which the client must be able to read even while it is still writing its body; the connection then ends
// in order, not by a reset. The same answers are listed in docs/operations.md, Requests the guard refuses.
import { testHandler } from '../support/handler';
import { AdmissionHandler } from '../../../webhook/admission/handler';
import { createAdmissionMetrics } from '../../../webhook/admission/metrics';
import { BODY_LIMIT_BYTES } from '../../../webhook/admission/server';
import { createLogger } from '../../../webhook/log/logger';
import { poolStatusReview, v4Pool, viewOf } from '../../../testbed/fixtures';
import { RawAnswer, RawRequest, rawRequest } from '../support/raw-https';
import { TestWebhook, startTestWebhook } from '../support/webhook-server';

const old = v4Pool({});
const review = Buffer.from(JSON.stringify(poolStatusReview(old, v4Pool({}))));
const PATH = '/validate/spiderippools?timeout=10s';
const JSON_TYPE = { 'Content-Type': 'application/json' };

function handler(): AdmissionHandler {
  return testHandler(() => viewOf(old));
}

const metrics = createAdmissionMetrics(undefined, false);
let web: TestWebhook;
const send = (r: Partial<RawRequest>) =>
  rawRequest(web.port, web.ca, { path: PATH, headers: JSON_TYPE, body: review, ...r });

beforeAll(async () => {
  web = await startTestWebhook(handler(), { checks: () => ({}) }, createLogger('silent'), { metrics });
}, 30_000);

afterAll(() => web.stop());

function expectRefusal(a: RawAnswer, status: number, reason: RegExp): void {
  expect(a.status).toBe(status);
  expect(a.headers['content-type']).toMatch(/^application\/json/);
  expect(a.json()).toEqual({ error: expect.stringMatching(reason), code: status });
  // the whole body was written and the connection ended in order: no reset while the client was sending
  expect(a.error).toBeUndefined();
  expect(a.endedBy).not.toBe('error');
}

describe('a body that is not UTF-8 JSON sent as is: refused, never judged', () => {
  it.each([
    ['application/json; charset=utf-16', /charset "utf-16"/],
    ['application/json;charset=UTF-16LE', /charset "UTF-16LE"/],
    ['application/json; charset="iso-8859-1"', /charset "iso-8859-1"/],
    ['application/json; CHARSET=us-ascii', /charset "us-ascii"/],
  ])('Content-Type %j (the body is UTF-8): 415 naming the charset', async (type, reason) => {
    const a = await send({ headers: { 'Content-Type': type } });
    expectRefusal(a, 415, reason);
    expect(a.json().error).toMatch(/only utf-8/);
  });

  it.each([
    ['gzip', /Content-Encoding "gzip"/],
    ['br', /Content-Encoding "br"/],
    ['deflate', /Content-Encoding "deflate"/],
    ['identity, gzip', /Content-Encoding "gzip"/],
    ['x-custom', /Content-Encoding "x-custom"/],
  ])('Content-Encoding %j (the body is not compressed): 415 naming the encoding', async (encoding, reason) => {
    expectRefusal(await send({ headers: { ...JSON_TYPE, 'Content-Encoding': encoding } }), 415, reason);
  });

  it('Transfer-Encoding "gzip, chunked": 501 naming the coding', async () => {
    expectRefusal(await send({ chunked: 'gzip, chunked' }), 501, /Transfer-Encoding "gzip"/);
  });

  it.each([
    ['text/plain', 'text/plain'],
    ['application/json-patch+json', 'application/json-patch+json'],
  ])('Content-Type %j: 415', async (_, type) => {
    expectRefusal(await send({ headers: { 'Content-Type': type } }), 415, /unsupported Content-Type/);
  });

  it('no Content-Type: 415', async () => {
    expectRefusal(await send({ headers: {} }), 415, /unsupported Content-Type ""/);
  });

  it.each([
    ['application/json', {}],
    ['application/json; charset=utf-8', {}],
    ['Application/JSON; Charset="UTF-8"', {}],
    ['application/json', { 'Content-Encoding': 'identity' }],
  ])('Content-Type %j with %j is read and judged: 200', async (type, extra) => {
    const a = await send({ headers: { 'Content-Type': type, ...extra } });
    expect(a.status).toBe(200);
    expect(a.json()).toMatchObject({ kind: 'AdmissionReview', response: { allowed: true } });
  });

  it('a chunked body is read and judged: 200', async () => {
    const a = await send({ chunked: true });
    expect(a.status).toBe(200);
    expect(a.json()).toMatchObject({ kind: 'AdmissionReview', response: { allowed: true } });
  });
});

describe('a body over the 16 MiB limit: 413 the client reads while still writing', () => {
  const inflight = async () =>
    (await metrics.registry.getMetricsAsJSON()).find((m) => m.name === 'spiderpool_guard_admission_inflight_bytes')!
      .values[0].value;

  it.each([
    ['the limit + 1 byte, with Content-Length', BODY_LIMIT_BYTES + 1, false],
    ['twice the limit, with Content-Length', 2 * BODY_LIMIT_BYTES, false],
    ['the limit + 1 byte, chunked', BODY_LIMIT_BYTES + 1, true],
    ['twice the limit, chunked', 2 * BODY_LIMIT_BYTES, true],
  ])(
    '%s: the whole body is written, the 413 read, the connection closed in order',
    async (_, bytes, chunked) => {
      const a = await send({ body: { bytes }, chunked });
      expectRefusal(a, 413, new RegExp(`body larger than ${BODY_LIMIT_BYTES} bytes`));
      expect(a.headers.connection).toBe('close');
      expect(a.sent).toBe(bytes);
      expect(a.endedBy).toBe('server');
      // the dropped rest of the body held no budget
      expect(await inflight()).toBe(0);
    },
    60_000,
  );

  it('a client that never stops sending still gets its 413; past the drain bounds the connection is cut', async () => {
    const short = await startTestWebhook(handler(), { checks: () => ({}) }, createLogger('silent'), {
      drainBounds: { maxBytes: 1024 * 1024, maxMs: 5000 },
    });
    try {
      const bytes = 8 * BODY_LIMIT_BYTES;
      const a = await rawRequest(short.port, short.ca, { path: PATH, headers: JSON_TYPE, body: { bytes } });
      expect(a.status).toBe(413);
      expect(a.json()).toEqual({ error: expect.stringMatching(/larger than/), code: 413 });
      expect(a.sent).toBeLessThan(bytes);
      expect(a.endedBy).toBe('error');
    } finally {
      await short.stop();
    }
  }, 60_000);
});
