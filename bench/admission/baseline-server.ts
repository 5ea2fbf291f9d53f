/**
 * The physical floor of an express webhook: HTTPS, the same JSON body parsing, and "allowed" with the uid echoed.
 * Started by the admission benchmark with the guard's certificate; prints its port on stdout.
 */
import express from 'express';
import * as fs from 'node:fs';
import * as https from 'node:https';

const [certFile, keyFile] = process.argv.slice(2);
const app = express();
app.post('/{*path}', express.json({ limit: 16 * 1024 * 1024, type: () => true }), (req, res) => {
  const uid = (req.body as { request?: { uid?: string } })?.request?.uid ?? '';
  res.json({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid, allowed: true } });
});
const server = https.createServer({ cert: fs.readFileSync(certFile), key: fs.readFileSync(keyFile) }, app);
server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  process.stdout.write(`${typeof address === 'object' && address ? address.port : 0}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
