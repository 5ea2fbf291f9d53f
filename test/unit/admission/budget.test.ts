// Issue #9 items 1-2 at the HTTP layer: the deadline comes from the API server's `timeout` parameter, and request
// bytes in flight are budgeted (429 + Retry-After past it, counted).
import { testHandler } from '../support/handler';
import https from 'node:https';
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

  beforeAll(async () => {
    const log = createLogger('silent');
    const handler = testHandler(() => viewOf(old), { log });
    web = await startTestWebhook(handler, { checks: () => ({}) }, log, {
      metrics,
      inflightBudgetBytes: body.length + 100,
    });
  }, 30_000);

  afterAll(() => web.stop());

  it('over the budget: 429 with Retry-After and a JSON reason, counted; within it again once the first is answered', async () => {
    // a first review whose body is still arriving holds its declared bytes
    let firstAnswer!: Promise<number>;
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
        firstAnswer = new Promise((resolve) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        });
      },
    );
    first.write(body.slice(0, 10));
    const gauge = async () =>
      (await metrics.registry.getMetricsAsJSON()).find((m) => m.name === 'spiderpool_guard_admission_inflight_bytes')!
        .values[0].value;
    for (let i = 0; i < 100 && (await gauge()) === 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(await gauge()).toBe(body.length);

    const second = await web.request('POST', '/validate/spiderippools', body);
    expect(second.status).toBe(429);
    expect(second.headers['retry-after']).toBe('1');
    expect(second.json().error).toMatch(/in-flight budget/);
    const throttled = (await metrics.registry.getMetricsAsJSON()).find(
      (m) => m.name === 'spiderpool_guard_admission_throttled_total',
    )!;
    expect(throttled.values).toEqual([expect.objectContaining({ labels: { webhook: 'validate' }, value: 1 })]);

    first.end(body.slice(10));
    await new Promise((r) => first.once('response', r));
    expect(await firstAnswer).toBe(200);
    for (let i = 0; i < 100 && (await gauge()) !== 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(await gauge()).toBe(0);
    expect((await web.request('POST', '/validate/spiderippools', body)).status).toBe(200);
  });
});
