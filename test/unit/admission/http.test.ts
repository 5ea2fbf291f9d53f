// The real HTTPS server (docs/rules.md#what-is-intercepted paths; docs/operations.md#requests-the-guard-refuses: a malformed
// AdmissionReview gets HTTP 400 with a JSON error body):
// started on 127.0.0.1:0 with a throw-away certificate, spoken to with node:https as the kube-apiserver would.
import * as https from 'node:https';
import { testHandler } from '../support/handler';
import { BODY_LIMIT_BYTES, Readiness } from '../../../webhook/admission/server';
import { Reply, TestWebhook, startTestWebhook } from '../support/webhook-server';
import { createLogger } from '../../../webhook/log/logger';
import { IndexedView } from '../../../webhook/model/view';
import {
  AGENT_USER,
  Json,
  NS,
  bigCluster,
  endpoint,
  endpointReview,
  pod,
  pool,
  poolStatusReview,
  rec,
  recordsOf,
  uid,
  viewOf,
  withRecords,
} from '../../../testbed/fixtures';

let web: TestWebhook;
let view: IndexedView = viewOf();
const readiness: Record<string, boolean> = { informers: true, tls: true };

const request = (method: string, path: string, body?: string | Buffer, headers?: Record<string, string>) =>
  web.request(method, path, body, headers);
const post = (path: string, doc: unknown) => request('POST', path, JSON.stringify(doc));

beforeAll(async () => {
  const log = createLogger('silent');
  const handler = testHandler(() => view, { log });
  const ready: Readiness = { checks: () => ({ ...readiness }) };
  web = await startTestWebhook(handler, ready, log);
}, 30_000);

afterAll(() => web.stop());

const X = '10.6.168.101';
const C = uid('api#C');
const D = uid('new#D');

function liveRelease() {
  const old = pool({ name: 'v4-pool', subnet: '10.6.0.0/16', records: { [X]: rec(`${NS}/api-0`, C) } });
  view = viewOf(old, pod({ name: 'api-0', uid: C, ips: [X] }));
  return poolStatusReview(old, withRecords(old, {}));
}

describe('AdmissionReview over HTTPS', () => {
  it('a valid review: 200, AdmissionReview v1 with the request uid echoed', async () => {
    const doc = liveRelease();
    const r = await post('/validate/spiderippools', doc);
    expect(r.status).toBe(200);
    expect(r.contentType).toMatch(/^application\/json/);
    const body = r.json();
    expect(body).toMatchObject({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' });
    const response = body.response as Json;
    expect(response.uid).toBe((doc.request as Json).uid);
    expect(response.allowed).toBe(false);
    expect(response.status).toMatchObject({ code: 403, reason: 'Forbidden' });
  });

  it('the mutating path answers with a base64 JSONPatch', async () => {
    const old = pool({ name: 'v4-pool', subnet: '10.6.0.0/16' });
    view = viewOf(old, pod({ name: 'new-0', uid: D, phase: 'Pending' }));
    const doc = poolStatusReview(
      old,
      withRecords(old, { [X]: rec(`${NS}/new-0`, D) }, { allocatedIPCount: 0 }),
      AGENT_USER,
    );
    const r = await post('/mutate/spiderippools', doc);
    expect(r.status).toBe(200);
    const response = r.json().response as Json;
    expect(response).toMatchObject({ allowed: true, patchType: 'JSONPatch' });
    expect(JSON.parse(Buffer.from(response.patch as string, 'base64').toString())).toEqual([
      { op: 'replace', path: '/status/allocatedIPCount', value: 1 },
    ]);
  });

  it('the endpoint path judges endpoint DELETEs', async () => {
    const ep = endpoint({ name: 'api-0', podUid: C, nics: [{ ipv4: `${X}/16`, ipv4Pool: 'v4-pool' }] });
    view = viewOf(ep, pod({ name: 'api-0', uid: C, ips: [X] }));
    const r = await post('/validate/spiderendpoints', endpointReview('DELETE', { oldObject: ep }));
    expect(r.status).toBe(200);
    expect(r.json().response).toMatchObject({
      allowed: false,
      auditAnnotations: { rule: 'LIVE_ENDPOINT_DELETE', ips: X },
    });
  });
});

describe('malformed requests: 400 with a JSON reason', () => {
  async function expect400(r: Reply, reason: RegExp) {
    expect(r.status).toBe(400);
    expect(r.contentType).toMatch(/^application\/json/);
    const body = r.json();
    expect(typeof body.error).toBe('string');
    expect(body.error).toMatch(reason);
  }

  it('an empty body', async () => {
    await expect400(await request('POST', '/validate/spiderippools', ''), /empty/);
  });

  it('a JSON body that is an empty object', async () => {
    await expect400(await request('POST', '/validate/spiderippools', '{}'), /empty/);
  });

  it('invalid JSON', async () => {
    await expect400(
      await request('POST', '/validate/spiderippools', '{"apiVersion": "admission.k8s.io/v1", "kind": '),
      /JSON/,
    );
  });

  it('a wrong apiVersion', async () => {
    const doc = { ...liveRelease(), apiVersion: 'admission.k8s.io/v1beta1' };
    await expect400(await post('/validate/spiderippools', doc), /apiVersion/);
  });

  it('a wrong kind', async () => {
    await expect400(await post('/validate/spiderippools', { ...liveRelease(), kind: 'Pod' }), /kind/);
  });

  it('a missing request.uid', async () => {
    const doc = liveRelease();
    delete (doc.request as Json).uid;
    await expect400(await post('/validate/spiderippools', doc), /uid/);
  });

  it('a missing request', async () => {
    await expect400(
      await post('/validate/spiderippools', { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' }),
      /request/,
    );
  });

  it('an unknown operation', async () => {
    const doc = liveRelease();
    (doc.request as Json).operation = 'PATCH';
    await expect400(await post('/validate/spiderippools', doc), /operation/);
  });
});

describe('body size', () => {
  it('a body over 16 MiB: 413 with a JSON reason', async () => {
    const doc = liveRelease();
    ((doc.request as Json).object as Json).padding = 'x'.repeat(BODY_LIMIT_BYTES + 1024);
    const r = await post('/validate/spiderippools', doc);
    expect(r.status).toBe(413);
    expect(r.json().error).toMatch(/larger than/);
  }, 30_000);

  it('a large realistic pool (5,000 records, old and new objects) is accepted and judged', async () => {
    const big = bigCluster(5000);
    view = viewOf(...big.objects);
    // the GC releases the record of a pod that is gone (legitimate) and the record of a running pod (denied)
    const records = recordsOf(big.pool);
    const goneIp = big.ips[10];
    const liveIp = big.ips[4000];
    view.removePod(NS, records[goneIp].pod.split('/')[1]);
    delete records[goneIp];
    delete records[liveIp];
    const doc = poolStatusReview(big.pool, withRecords(big.pool, records));
    const body = JSON.stringify(doc);
    expect(body.length).toBeGreaterThan(1_000_000);
    const r = await request('POST', '/validate/spiderippools', body);
    expect(r.status).toBe(200);
    const response = r.json().response as Json;
    expect(response.allowed).toBe(false);
    expect((response.status as Json).message).toMatch(
      new RegExp(`^LIVE_IP_RELEASE: IP ${liveIp.replace(/\./g, '\\.')},`),
    );
    expect(((response.status as Json).message as string).split('\n')).toHaveLength(1);
  }, 30_000);
});

describe('health and readiness', () => {
  it('/healthz is 200', async () => {
    const r = await request('GET', '/healthz');
    expect(r.status).toBe(200);
    expect(r.text).toBe('ok');
  });

  it('/readyz reflects the readiness checks', async () => {
    readiness.informers = true;
    let r = await request('GET', '/readyz');
    expect(r.status).toBe(200);
    expect(r.json()).toEqual({ ready: true, checks: { informers: true, tls: true } });
    readiness.informers = false;
    r = await request('GET', '/readyz');
    expect(r.status).toBe(503);
    expect(r.json()).toEqual({ ready: false, checks: { informers: false, tls: true } });
    readiness.informers = true;
  });

  it('unknown paths and methods: 404 with a JSON reason', async () => {
    const r = await post('/validate/pods', liveRelease());
    expect(r.status).toBe(404);
    expect(r.json().error).toMatch(/not found/);
    expect((await request('GET', '/validate/spiderippools')).status).toBe(404);
  });
});

describe('a webhook path spelled exactly (answered without express) and otherwise (routed by express) answer alike', () => {
  // express routes paths case-insensitively and with an optional trailing slash; only the exact spelling the API
  // server sends takes the direct way, so every pair below compares the two ways
  const without = (r: Reply) => ({ status: r.status, text: r.text, headers: { ...r.headers, date: undefined } });
  const pairs: [string, string][] = [
    ['/validate/spiderippools?timeout=10s', '/Validate/SpiderIPPools/?timeout=10s'],
    ['/mutate/spiderippools', '/mutate/spiderippools/'],
    ['/validate/spiderendpoints', '/VALIDATE/spiderendpoints'],
  ];
  it.each(pairs)('%s and %s: a decided review', async (exact, other) => {
    const doc = liveRelease();
    const direct = await post(exact, doc);
    const routed = await post(other, doc);
    expect(direct.status).toBe(200);
    expect(without(routed)).toEqual(without(direct));
    // and with the headers express's own res.json gives (/readyz answers with it)
    const readyz = await request('GET', '/readyz');
    expect(Object.keys(direct.headers).sort()).toEqual(Object.keys(readyz.headers).sort());
    expect(direct.headers['content-type']).toBe(readyz.headers['content-type']);
  });
  it.each(pairs)('%s and %s: a malformed review, a refused content type', async (exact, other) => {
    const bad = '{"apiVersion":"admission.k8s.io/v1"';
    expect(without(await request('POST', other, bad))).toEqual(without(await request('POST', exact, bad)));
    const utf16 = { 'content-type': 'application/json; charset=utf-16' };
    const refusedDirect = await request('POST', exact, '{}', utf16);
    expect(refusedDirect.status).toBe(415);
    expect(without(await request('POST', other, '{}', utf16))).toEqual(without(refusedDirect));
  });
});

describe('kept-alive connections are left for the API server to close', () => {
  // The API server's webhook client closes idle connections after 90 s; a server closing them first (Node's default
  // is 5 s) races the API server's next call on them, which then fails open. Past Node's 5 s, the same connection
  // still carries a call.
  it('an idle connection still carries a call after 6 s', async () => {
    const agent = new https.Agent({ keepAlive: true, maxSockets: 1, ca: web.ca, servername: 'localhost' });
    const get = () =>
      new Promise<{ status: number; reused: boolean }>((resolve, reject) => {
        const req = https.get({ host: '127.0.0.1', port: web.port, path: '/healthz', agent }, (res) => {
          res.resume();
          res.on('end', () => resolve({ status: res.statusCode ?? 0, reused: req.reusedSocket }));
        });
        req.on('error', reject);
      });
    try {
      expect(await get()).toEqual({ status: 200, reused: false });
      await new Promise((r) => setTimeout(r, 6000));
      expect(await get()).toEqual({ status: 200, reused: true });
    } finally {
      agent.destroy();
    }
  }, 15_000);
});
