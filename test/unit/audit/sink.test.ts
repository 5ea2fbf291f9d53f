// Audit lines go to the service log (audit: true) and to their own JSON-lines file, which logrotate can move away:
// after reopen() (serve calls it on SIGHUP) new lines land in a new file at the configured path.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Writable } from 'node:stream';
import { AuditEvent } from '../../../webhook/audit/events';
import { createLogger } from '../../../webhook/log/logger';
import { PinoAuditSink } from '../../../webhook/audit/sink';
import { Registry } from 'prom-client';

function event(ip: string): AuditEvent {
  return {
    time: '2026-11-22T00:00:00.000Z',
    event: 'admission.denied',
    rule: 'LIVE_IP_RELEASE',
    mode: 'enforce',
    requestUID: `req-${ip}`,
    operation: 'UPDATE',
    resource: {
      group: 'spiderpool.spidernet.io',
      version: 'v2beta1',
      resource: 'spiderippools',
      subResource: 'status',
    },
    name: 'v4-pool',
    namespace: '',
    user: 'system:serviceaccount:kube-system:spiderpool-controller',
    groups: [],
    ip,
    pool: 'v4-pool',
    record: { pod: 'demo/web-1', podUid: 'B' },
    message: `LIVE_IP_RELEASE: IP ${ip}`,
  };
}

test('every event reaches stdout (audit: true) and the file; reopen() after a rotation starts a new file', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'spg-audit-'));
  const file = path.join(dir, 'audit.jsonl');
  const stdout: string[] = [];
  const sink = new PinoAuditSink(
    createLogger('info', new Writable({ write: (chunk, _enc, cb) => (stdout.push(String(chunk)), cb()) }) as never),
    file,
  );
  sink.write(event('10.6.168.101'));
  sink.flush();
  fs.renameSync(file, `${file}.1`); // logrotate moves the file away
  sink.reopen();
  sink.write(event('10.6.168.102'));
  sink.flush();
  const rotated = fs
    .readFileSync(`${file}.1`, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  const current = fs
    .readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  expect(rotated).toEqual([
    expect.objectContaining({ event: 'admission.denied', ip: '10.6.168.101', rule: 'LIVE_IP_RELEASE' }),
  ]);
  expect(current).toEqual([
    expect.objectContaining({
      ip: '10.6.168.102',
      requestUID: 'req-10.6.168.102',
      record: { pod: 'demo/web-1', podUid: 'B' },
    }),
  ]);
  const logged = stdout.map((l) => JSON.parse(l));
  expect(logged).toHaveLength(2);
  expect(logged.every((l) => l.audit === true && l.event === 'admission.denied')).toBe(true);
});

async function dropped(registry: Registry, sink: string): Promise<number> {
  const m = (await registry.getMetricsAsJSON()).find((x) => x.name === 'spiderpool_guard_audit_lines_dropped_total');
  return m?.values.find((v) => v.labels.sink === sink)?.value ?? -1;
}

test('writing only queues: lines reach the sinks on a later turn of the event loop', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'spg-audit-'));
  const file = path.join(dir, 'audit.jsonl');
  const stdout: string[] = [];
  const sink = new PinoAuditSink(
    createLogger('info', new Writable({ write: (c, _e, cb) => (stdout.push(String(c)), cb()) }) as never),
    { file },
  );
  sink.write(event('10.6.168.101'));
  expect(stdout).toEqual([]);
  expect(fs.readFileSync(file, 'utf8')).toBe('');
  await new Promise((r) => setImmediate(r));
  expect(stdout).toHaveLength(1);
  expect(fs.readFileSync(file, 'utf8').trim().split('\n')).toHaveLength(1);
});

test('a full queue drops lines and counts them per sink, never blocking the writer', async () => {
  const registry = new Registry();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'spg-audit-'));
  const file = path.join(dir, 'audit.jsonl');
  const stdout: string[] = [];
  const sink = new PinoAuditSink(
    createLogger('info', new Writable({ write: (c, _e, cb) => (stdout.push(String(c)), cb()) }) as never),
    { file, queueLines: 10, registry },
  );
  for (let i = 0; i < 25; i++) sink.write(event(`10.6.0.${i}`));
  expect(await dropped(registry, 'stdout')).toBe(15);
  expect(await dropped(registry, 'file')).toBe(15);
  sink.flush();
  expect(stdout).toHaveLength(10);
  expect(fs.readFileSync(file, 'utf8').trim().split('\n')).toHaveLength(10);
});

test('the file is rotated by size: FILE, FILE.1 .. FILE.maxFiles, older ones removed, no file over the size', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'spg-audit-'));
  const file = path.join(dir, 'audit.jsonl');
  const lineBytes = Buffer.byteLength(JSON.stringify(event('10.6.0.101')) + '\n');
  const sink = new PinoAuditSink(createLogger('silent'), { file, maxBytes: lineBytes * 3, maxFiles: 2 });
  for (let i = 0; i < 20; i++) sink.write(event(`10.6.0.${i + 101}`));
  sink.flush();
  expect(fs.readdirSync(dir).sort()).toEqual(['audit.jsonl', 'audit.jsonl.1', 'audit.jsonl.2']);
  const read = (f: string) =>
    fs
      .readFileSync(path.join(dir, f), 'utf8')
      .trim()
      .split('\n')
      .map((l) => (JSON.parse(l) as { ip: string }).ip);
  for (const f of fs.readdirSync(dir)) expect(fs.statSync(path.join(dir, f)).size).toBeLessThanOrEqual(lineBytes * 3);
  // 20 lines, 3 per file: the newest 2 in FILE, the 6 before in FILE.1 and FILE.2
  expect(read('audit.jsonl')).toEqual(['10.6.0.119', '10.6.0.120']);
  expect(read('audit.jsonl.1')).toEqual(['10.6.0.116', '10.6.0.117', '10.6.0.118']);
  expect(read('audit.jsonl.2')).toEqual(['10.6.0.113', '10.6.0.114', '10.6.0.115']);
});
