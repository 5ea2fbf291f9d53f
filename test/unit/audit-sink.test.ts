// Audit lines go to the service log (audit: true) and to their own JSON-lines file, which logrotate can move away:
// after reopen() (serve calls it on SIGHUP) new lines land in a new file at the configured path.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Writable } from 'node:stream';
import { AuditEvent } from '../../webhook/audit/events';
import { createLogger } from '../../webhook/log/logger';
import { PinoAuditSink } from '../../webhook/audit/sink';

function event(ip: string): AuditEvent {
  return {
    time: '2026-11-22T00:00:00.000Z',
    event: 'admission.denied',
    rule: 'LIVE_IP_RELEASE',
    mode: 'enforce',
    requestUID: `req-${ip}`,
    operation: 'UPDATE',
    resource: { group: 'spiderpool.spidernet.io', version: 'v2beta1', resource: 'spiderippools', subResource: 'status' },
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
  fs.renameSync(file, `${file}.1`); // logrotate moves the file away
  sink.reopen();
  sink.write(event('10.6.168.102'));
  sink.flush();
  const rotated = fs.readFileSync(`${file}.1`, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  const current = fs.readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  expect(rotated).toEqual([expect.objectContaining({ event: 'admission.denied', ip: '10.6.168.101', rule: 'LIVE_IP_RELEASE' })]);
  expect(current).toEqual([expect.objectContaining({ ip: '10.6.168.102', requestUID: 'req-10.6.168.102', record: { pod: 'demo/web-1', podUid: 'B' } })]);
  const logged = stdout.map((l) => JSON.parse(l));
  expect(logged).toHaveLength(2);
  expect(logged.every((l) => l.audit === true && l.event === 'admission.denied')).toBe(true);
});
