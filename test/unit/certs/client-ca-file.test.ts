// --client-ca-file (certs/client-ca-file.ts): read at start (unusable = refuse to start), then polled; a changed
// file with valid certificates replaces the bundle, anything else keeps the previous one.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { generateCa } from '../../../certs/pki';
import { watchClientCaFile } from '../../../certs/client-ca-file';
import { createLogger } from '../../../webhook/log/logger';

const now = new Date();
const log = createLogger('silent');
const ca = (cn: string) => generateCa({ keyType: 'ec', now, validityMs: 3600_000, commonName: cn });

async function until(what: string, check: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 10));
  if (!check()) throw new Error(`not seen: ${what}`);
}

describe('watchClientCaFile', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'client-ca-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('refuses a file without a certificate, and a missing file', () => {
    const file = path.join(dir, 'ca.crt');
    fs.writeFileSync(file, 'not a certificate\n');
    expect(() => watchClientCaFile(file, () => undefined, log)).toThrow(/no PEM certificate/);
    expect(() => watchClientCaFile(path.join(dir, 'absent.crt'), () => undefined, log)).toThrow(/ENOENT/);
  });

  it('reloads a changed bundle; keeps the previous one while the file is unusable', async () => {
    const [first, second] = await Promise.all([ca('first'), ca('second')]);
    const file = path.join(dir, 'ca.crt');
    fs.writeFileSync(file, first.cert);
    const seen: string[] = [];
    const watcher = watchClientCaFile(file, (pem) => seen.push(pem), log, 20);
    try {
      expect(watcher.current()).toContain('BEGIN CERTIFICATE');
      const initial = watcher.current();
      fs.writeFileSync(file, 'garbage');
      await new Promise((r) => setTimeout(r, 100));
      expect(seen).toEqual([]);
      expect(watcher.current()).toBe(initial);
      fs.writeFileSync(file, `${second.cert}\n${first.cert}`);
      await until('the two-CA bundle', () => seen.length === 1);
      expect(watcher.current().match(/BEGIN CERTIFICATE/g)).toHaveLength(2);
      expect(seen[0]).toBe(watcher.current());
    } finally {
      watcher.stop();
    }
  });
});
