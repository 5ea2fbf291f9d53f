// A kept-alive connection the API server has closed fails the next GET sent on it before any answer (the
// outage e2e's restarted API server); KubeHttpClient retries exactly that case once, on a new connection.
import { KubeConfig } from '@kubernetes/client-node';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import { generate } from 'selfsigned';
import { KubeHttpClient } from '../../../webhook/cluster/kube-http';

async function server(
  dropSecondRequestOnASocket: boolean,
): Promise<{ srv: https.Server; port: number; connections: () => number; requests: () => number }> {
  const pems = await generate([{ name: 'commonName', value: 'localhost' }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
  });
  let connections = 0;
  let requests = 0;
  const perSocket = new WeakMap<object, number>();
  const srv = https.createServer({ key: pems.private, cert: pems.cert, keepAliveTimeout: 60_000 }, (req, res) => {
    requests++;
    const n = (perSocket.get(req.socket) ?? 0) + 1;
    perSocket.set(req.socket, n);
    // the "restarted server": a request on a connection it no longer knows is cut without an answer
    if (dropSecondRequestOnASocket && n > 1) return req.socket.destroy();
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ kind: 'Pod', n: requests }));
  });
  srv.on('secureConnection', () => connections++);
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return { srv, port: (srv.address() as AddressInfo).port, connections: () => connections, requests: () => requests };
}

function kubeConfig(port: number): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server: `https://127.0.0.1:${port}`, skipTLSVerify: true }],
    users: [{ name: 'u', token: 't' }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });
  return kc;
}

describe('KubeHttpClient on a reused connection the server dropped', () => {
  it('retries the GET once on a new connection and returns its answer', async () => {
    const s = await server(true);
    const http = new KubeHttpClient(kubeConfig(s.port), 2000);
    try {
      expect(await http.getJson('/api/v1/namespaces/a/pods/p')).toEqual({ kind: 'Pod', n: 1 });
      // the same keep-alive socket is reused and cut: answered from a second connection instead of failing
      expect(await http.getJson('/api/v1/namespaces/a/pods/p')).toEqual({ kind: 'Pod', n: 3 });
      expect(s.connections()).toBe(2);
      expect(s.requests()).toBe(3);
    } finally {
      http.close();
      s.srv.close();
    }
  });

  it('does not retry a reset on a fresh connection', async () => {
    const pems = await generate([{ name: 'commonName', value: 'localhost' }], {
      keyType: 'ec',
      curve: 'P-256',
      algorithm: 'sha256',
    });
    let requests = 0;
    const srv = https.createServer({ key: pems.private, cert: pems.cert }, (req) => {
      requests++;
      req.socket.destroy();
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const http = new KubeHttpClient(kubeConfig((srv.address() as AddressInfo).port), 2000);
    try {
      await expect(http.getJson('/api/v1/namespaces/a/pods/p')).rejects.toThrow(/socket hang up|ECONNRESET/);
      expect(requests).toBe(1);
    } finally {
      http.close();
      srv.close();
    }
  });
});
