// Issue #9 items 1-2 at the HTTP layer: the deadline comes from the API server's `timeout` parameter, and request
// bytes in flight are budgeted (a bounded wait, then 429 + Retry-After, counted).
import { testHandler } from '../support/handler';
import https from 'node:https';
import type { IncomingMessage } from 'node:http';
import { PassThrough } from 'node:stream';
import fc from 'fast-check';
import { readBudgetedBody } from '../../../webhook/admission/body';
import { BudgetGate } from '../../../webhook/admission/budget-gate';
import { InflightBudget } from '../../../webhook/admission/inflight-budget';
import { createAdmissionMetrics } from '../../../webhook/admission/metrics';
import { decisionBudgetMs, parseGoDuration } from '../../../webhook/admission/deadline';
import { createLogger } from '../../../webhook/log/logger';
import { poolStatusReview, v4Pool, viewOf } from '../../../testbed/fixtures';
import { TestWebhook, startTestWebhook } from '../support/webhook-server';

describe('decision budget from ?timeout=', () => {
  it.each([
    ['5s', 5000],
    ['10s', 10000],
    ['1m', 60000],
    ['1m30s', 90000],
    ['1.5s', 1500],
    ['500ms', 500],
    ['2h45m', 9900000],
  ])('parses the Go duration %s', (text, ms) => expect(parseGoDuration(text)).toBe(ms));

  it.each(['', '5', 's', '-5s', '5 s', '0s', 'garbage', '5x'])('refuses %j', (text) =>
    expect(parseGoDuration(text)).toBeUndefined(),
  );

  it.each([
    ['5s', 4000],
    ['10s', 9000],
    [null, 9000], // absent: the API server's default of 10 s
    ['garbage', 9000],
    ['1s', 500], // 1 s minus 1 s would leave nothing: half the timeout
    ['1500ms', 750],
    ['1m', 29000], // timeoutSeconds is at most 30
  ])('timeout %j leaves %d ms for the decision', (param, ms) => expect(decisionBudgetMs(param)).toBe(ms));
});

describe('in-flight byte budget', () => {
  let web: TestWebhook;
  const metrics = createAdmissionMetrics(undefined, false);
  const old = v4Pool({});
  const body = JSON.stringify(poolStatusReview(old, v4Pool({})));
  const metric = async (name: string) => (await metrics.registry.getMetricsAsJSON()).find((m) => m.name === name)!;
  const gauge = async () => (await metric('spiderpool_guard_admission_inflight_bytes')).values[0].value;
  const waits = async () =>
    Object.fromEntries(
      (await metric('spiderpool_guard_admission_budget_waits_total')).values.map((v) => [v.labels.outcome, v.value]),
    );

  beforeAll(async () => {
    const log = createLogger('silent');
    const handler = testHandler(() => viewOf(old), { log });
    web = await startTestWebhook(handler, { checks: () => ({}) }, log, {
      metrics,
      inflightBudgetBytes: body.length + 100,
      maxWaitingRequests: 1,
    });
  }, 30_000);

  afterAll(() => web.stop());

  /** A review whose body is still arriving: it holds its declared bytes until `finish`. */
  async function holdingReview(): Promise<{ finish: () => Promise<number> }> {
    let answered!: Promise<number>;
    const first = https.request(
      {
        host: '127.0.0.1',
        port: web.port,
        method: 'POST',
        path: '/validate/spiderippools?timeout=10s',
        ca: web.ca,
        servername: 'localhost',
        agent: false,
        headers: { 'content-type': 'application/json', 'content-length': body.length },
      },
      (res) => {
        answered = new Promise((resolve) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        });
      },
    );
    first.write(body.slice(0, 10));
    for (let i = 0; i < 100 && (await gauge()) === 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(await gauge()).toBe(body.length);
    return {
      finish: async () => {
        first.end(body.slice(10));
        await new Promise((r) => first.once('response', r));
        return answered;
      },
    };
  }

  it('over the budget, a review waits (its body unread) and is judged once the bytes come back', async () => {
    const first = await holdingReview();
    const second = web.request('POST', '/validate/spiderippools?timeout=10s', body);
    for (let i = 0; i < 100 && (await metric('spiderpool_guard_admission_budget_waiting')).values[0].value === 0; i++)
      await new Promise((r) => setTimeout(r, 10));
    expect((await metric('spiderpool_guard_admission_budget_waiting')).values[0].value).toBe(1);
    expect(await gauge()).toBe(body.length); // the waiting body holds nothing
    expect(await first.finish()).toBe(200);
    expect((await second).status).toBe(200);
    expect((await waits()).admitted).toBe(1);
    for (let i = 0; i < 100 && (await gauge()) !== 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(await gauge()).toBe(0);
  });

  it("past the wait's deadline (half the decision budget): 429 with Retry-After and a JSON reason, counted", async () => {
    const first = await holdingReview();
    const t = performance.now();
    const second = await web.request('POST', '/validate/spiderippools?timeout=1s', body); // 500 ms: wait 250 ms
    const waited = performance.now() - t;
    expect(second.status).toBe(429);
    expect(waited).toBeGreaterThanOrEqual(240);
    expect(waited).toBeLessThan(2000);
    expect(second.headers['retry-after']).toBe('1');
    expect(second.json().error).toMatch(/in-flight budget .* until the wait's deadline/);
    const throttled = await metric('spiderpool_guard_admission_throttled_total');
    expect(throttled.values).toEqual([expect.objectContaining({ labels: { webhook: 'validate' }, value: 1 })]);
    expect((await waits()).timeout).toBe(1);
    expect(await first.finish()).toBe(200);
  });

  it('too many waiting already: 429 at once', async () => {
    const first = await holdingReview();
    const second = web.request('POST', '/validate/spiderippools?timeout=10s', body); // waits: the one place
    for (let i = 0; i < 100 && (await metric('spiderpool_guard_admission_budget_waiting')).values[0].value === 0; i++)
      await new Promise((r) => setTimeout(r, 10));
    const third = await web.request('POST', '/validate/spiderippools?timeout=10s', body);
    expect(third.status).toBe(429);
    expect(third.json().error).toMatch(/too many requests wait/);
    expect((await waits()).full).toBe(1);
    expect(await first.finish()).toBe(200);
    expect((await second).status).toBe(200);
  });
});

describe('the body as text, decoded chunk by chunk', () => {
  // the body is decoded as it arrives (no Buffer of the whole body): however the bytes are split into chunks, the
  // text is what decoding them at once gives, invalid and split multi-byte sequences included
  const readAll = async (chunks: Buffer[]) => {
    const req = new PassThrough() as PassThrough & { headers: Record<string, string> };
    req.headers = {};
    const gate = new BudgetGate(new InflightBudget(1 << 20));
    const { outcome, release } = readBudgetedBody(req as unknown as IncomingMessage, gate, 1 << 20, Infinity);
    for (const c of chunks) req.write(c);
    req.end();
    const read = await outcome;
    release();
    return read;
  };

  it('equals Buffer#toString of the whole body for any bytes and any split', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ maxLength: 64 }),
        fc.array(fc.nat(64), { maxLength: 6 }),
        async (bytes, cuts) => {
          const whole = Buffer.from(bytes);
          const at = [...new Set(cuts.map((c) => c % (whole.length + 1)))].sort((a, b) => a - b);
          const chunks = [0, ...at].map((from, i, all) => whole.subarray(from, all[i + 1] ?? whole.length));
          const read = await readAll(chunks.filter((c) => c.length > 0));
          expect(read).toEqual({ ok: true, text: whole.toString('utf8'), bytes: whole.length });
        },
      ),
      { numRuns: 500 },
    );
  });

  it('a character split across chunks (UTF-8, the byte-order mark) comes out whole', async () => {
    const whole = Buffer.from('\ufeff{"name":"pöd-😀"}', 'utf8');
    const read = await readAll([
      whole.subarray(0, 1),
      whole.subarray(1, 12),
      whole.subarray(12, 19),
      whole.subarray(19),
    ]);
    expect(read).toEqual({ ok: true, text: '\ufeff{"name":"pöd-😀"}', bytes: whole.length });
  });
});
