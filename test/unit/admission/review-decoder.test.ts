// Issue #9 item 9: `review` and the server decode a body with the same function, so every input has the same
// outcome: accepted by both (same decision), or refused by both with the same reason (HTTP 400 / exit 2).
import { testHandler } from '../support/handler';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../../webhook/cli/main';
import { createLogger } from '../../../webhook/log/logger';
import { list, pod, poolStatusReview, rec, uid, v4Pool, viewOf } from '../../../testbed/fixtures';
import { TestWebhook, startTestWebhook } from '../support/webhook-server';

const X = '10.6.168.101';
const old = v4Pool({ [X]: rec('demo/web-0', uid('web-0')) });
const objects = [old, pod({ name: 'web-0', uid: uid('web-0'), ips: [X] })];
const valid = JSON.stringify(poolStatusReview(old, v4Pool({})));

const INPUTS: [string, string | Buffer][] = [
  ['a valid review', valid],
  ['a BOM-prefixed valid review', '\ufeff' + valid],
  ['a BOM-prefixed valid review, as bytes', Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(valid)])],
  ['leading and trailing whitespace', `\n  ${valid}\n`],
  ['an empty body', ''],
  ['whitespace only', ' \n\t'],
  ['a BOM only', '\ufeff'],
  ['null', 'null'],
  ['[]', '[]'],
  ['[{}]', '[{}]'],
  ['{}', '{}'],
  ['a number', '42'],
  ['a string', '"AdmissionReview"'],
  ['true', 'true'],
  ['invalid JSON', '{"apiVersion":'],
  ['two BOMs', '\ufeff\ufeff' + valid],
  ['a wrong apiVersion', valid.replace('admission.k8s.io/v1', 'admission.k8s.io/v1beta1')],
  ['no request', JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' })],
  ['request: null', JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: null })],
  ['an empty uid', valid.replace(/"uid":"[^"]*"/, '"uid":""')],
];

let web: TestWebhook;
let dir: string;
let snapshotFile: string;

beforeAll(async () => {
  const view = viewOf(...objects);
  const log = createLogger('silent');
  const handler = testHandler(view, { log });
  web = await startTestWebhook(handler, { checks: () => ({}) }, log);
  dir = mkdtempSync(join(tmpdir(), 'spg-decoder-'));
  snapshotFile = join(dir, 'snapshot.json');
  writeFileSync(snapshotFile, JSON.stringify(list(...objects)));
}, 30_000);

afterAll(async () => {
  await web.stop();
  rmSync(dir, { recursive: true, force: true });
});

type Outcome = { accepted: true; allowed: boolean } | { accepted: false; reason: string };

async function viaServer(body: string | Buffer): Promise<Outcome> {
  const r = await web.request('POST', '/validate/spiderippools', body);
  if (r.status === 200) return { accepted: true, allowed: (r.json().response as { allowed: boolean }).allowed };
  expect(r.status).toBe(400);
  return { accepted: false, reason: String(r.json().error) };
}

async function viaReview(body: string | Buffer): Promise<Outcome> {
  const file = join(dir, 'review.json');
  writeFileSync(file, body);
  let stdout = '';
  let stderr = '';
  const out = jest
    .spyOn(process.stdout, 'write')
    .mockImplementation((c: string | Uint8Array) => ((stdout += c.toString()), true));
  const err = jest
    .spyOn(process.stderr, 'write')
    .mockImplementation((c: string | Uint8Array) => ((stderr += c.toString()), true));
  let code: number;
  try {
    code = await main(['review', '--snapshot', snapshotFile, file]);
  } finally {
    out.mockRestore();
    err.mockRestore();
  }
  if (code === 0)
    return { accepted: true, allowed: (JSON.parse(stdout) as { response: { allowed: boolean } }).response.allowed };
  expect(code).toBe(2);
  // review prefixes the file name: `review FILE: <reason>`
  const prefix = `review ${file}: `;
  const line =
    stderr
      .trim()
      .split('\n')
      .find((l) => l.includes(prefix)) ?? stderr;
  return { accepted: false, reason: line.slice(line.indexOf(prefix) + prefix.length) };
}

test.each(INPUTS)('%s: the server and review give the same outcome', async (_name, body) => {
  const server = await viaServer(body);
  const review = await viaReview(body);
  expect(review).toEqual(server);
});

test('the table covers acceptance and refusal', async () => {
  const outcomes = await Promise.all(INPUTS.map(([, b]) => viaServer(b)));
  expect(outcomes.filter((o) => o.accepted)).toHaveLength(4);
  expect(outcomes.filter((o) => o.accepted && !o.allowed)).toHaveLength(4); // the live release is denied
});
