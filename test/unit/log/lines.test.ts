// Issue #9 item 7: no JSON line the guard writes carries a key twice. Each line type (service log, stdout and file
// audit lines, certificate log, reconciler log) is produced by the code serve runs and parsed with a parser that
// rejects duplicate keys (JSON.parse would silently keep the last one).
import { testHandler } from '../support/handler';
import * as k8s from '@kubernetes/client-node';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Writable } from 'node:stream';
import { Registry } from 'prom-client';
import { PinoAuditSink } from '../../../webhook/audit/sink';
import { tlsSourceFromFlags } from '../../../webhook/cli/serve';
import { createLogger } from '../../../webhook/log/logger';
import { startReconciler } from '../../../webhook/app/reconciler';
import { DuplicateKeyError, parseStrictJson } from '../../support/strict-json';
import { FakeCluster, flush } from '../support/fake-cluster';
import { endpoint, pool, view } from '../support/reconciler-builders';
import { CONTROLLER_USER, pod, poolStatusReview, rec, requestOf, v4Pool, viewOf } from '../../../testbed/fixtures';

function capture(): { lines: string[]; stream: Writable } {
  const lines: string[] = [];
  const stream = new Writable({
    write: (chunk, _enc, cb) => {
      lines.push(...String(chunk).split('\n').filter(Boolean));
      cb();
    },
  });
  return { lines, stream };
}

function expectNoDuplicateKeys(lines: string[]): void {
  expect(lines.length).toBeGreaterThan(0);
  for (const l of lines) expect(() => parseStrictJson(l)).not.toThrow();
}

test('the strict parser rejects a repeated key that JSON.parse accepts', () => {
  const line = '{"level":30,"time":1,"audit":true,"time":"2026-11-29T00:00:00.000Z"}';
  expect(() => JSON.parse(line)).not.toThrow();
  expect(() => parseStrictJson(line)).toThrow(DuplicateKeyError);
  expect(() => parseStrictJson('{"a":{"b":1,"b":2}}')).toThrow(DuplicateKeyError);
  expect(parseStrictJson('{"a":[1,{"b":"x\\"y"}],"c":null}')).toEqual({ a: [1, { b: 'x"y' }], c: null });
});

test('service log and audit lines (stdout and file) of a denial carry each key once', async () => {
  const out = capture();
  const log = createLogger('info', out.stream as never);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'spg-loglines-'));
  const file = path.join(dir, 'audit.jsonl');
  const audit = new PinoAuditSink(log, file);
  const handler = testHandler(() => viewOf(pod({ name: 'web-1', uid: 'B', ips: ['10.6.168.101'] })), { audit, log });
  const review = poolStatusReview(v4Pool({ '10.6.168.101': rec('demo/web-1', 'B') }), v4Pool({}), CONTROLLER_USER);
  const res = await handler.handle('validate', requestOf(review));
  expect(res.allowed).toBe(false);
  log.info({ port: 9443, host: '127.0.0.1' }, 'spiderpool-guard serving');
  audit.flush();
  const stdoutAudit = out.lines.filter((l) => (JSON.parse(l) as { audit?: boolean }).audit);
  expect(stdoutAudit.length).toBeGreaterThan(0);
  expectNoDuplicateKeys(out.lines);
  expectNoDuplicateKeys(fs.readFileSync(file, 'utf8').split('\n').filter(Boolean));
});

test('certificate log lines (TLS from files, as serve wires them) carry each key once', async () => {
  const out = capture();
  const log = createLogger('info', out.stream as never);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'spg-loglines-'));
  const source = tlsSourceFromFlags(
    { 'tls-cert-file': path.join(dir, 'missing.crt'), 'tls-key-file': path.join(dir, 'missing.key') },
    new k8s.KubeConfig(),
    log,
    new Registry(),
  );
  // The source reads the (missing) files through libuv's thread pool: on a loaded machine that takes longer than a
  // fixed number of event-loop turns, so wait for the first line with a deadline in time instead.
  const deadline = Date.now() + 5_000;
  while (out.lines.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  await source.stop();
  expect(out.lines.map((l) => JSON.parse(l) as { component?: string })).toEqual([
    expect.objectContaining({ component: 'certs' }),
  ]);
  expectNoDuplicateKeys(out.lines);
});

test('reconciler log lines carry each key once', async () => {
  const out = capture();
  const log = createLogger('debug', out.stream as never);
  const items = [
    endpoint({ name: 'api-1', uid: 'u1', ips: [['10.6.0.9', 'p']] }),
    pool({ name: 'p', records: { '10.6.0.9': ['demo/api-1', 'u1'] } }),
  ];
  const r = startReconciler({
    source: { view: view(...items), synced: () => true },
    kubeConfig: new k8s.KubeConfig(),
    namespace: 'kube-system',
    identity: 'replica-a',
    settleMs: 0,
    client: new FakeCluster(items),
    registry: new Registry(),
    log,
    leaderElection: false,
  });
  await r.runPass();
  await r.runPass();
  await flush();
  await r.stop();
  expect(out.lines.some((l) => (JSON.parse(l) as { component?: string }).component === 'reconciler')).toBe(true);
  expectNoDuplicateKeys(out.lines);
});
