// The API adapters really abort: a Lease read or a pool write whose signal fires while the server has not answered
// rejects at once, and the server sees its connection closed (nothing more is sent on it). The server here accepts
// requests and never answers, like an API server behind a frozen connection.
import * as http from 'node:http';
import { AddressInfo } from 'node:net';
import * as k8s from '@kubernetes/client-node';
import { KubeLeaseClient } from '../../../webhook/cluster/lease-client';
import { KubeReconcileClient } from '../../../webhook/cluster/reconcile-client';

let server: http.Server;
let closed = 0;
const seen: { method?: string; url?: string; userAgent?: string }[] = [];

beforeAll(async () => {
  server = http.createServer((req) => {
    seen.push({ method: req.method, url: req.url, userAgent: req.headers['user-agent'] });
    req.socket.on('close', () => closed++);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

function kubeConfig(): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  const { port } = server.address() as AddressInfo;
  kc.loadFromOptions({
    clusters: [{ name: 'c', server: `http://127.0.0.1:${port}`, skipTLSVerify: true }],
    users: [{ name: 'u', token: 't' }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });
  return kc;
}

async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
}

describe('adapters abort their HTTP requests', () => {
  it('KubeLeaseClient.get: rejects when its signal fires and closes the connection; the User-Agent names the replica', async () => {
    const before = { closed, seen: seen.length };
    const ac = new AbortController();
    const call = new KubeLeaseClient(kubeConfig(), 'replica-a').get('kube-system', 'l', { signal: ac.signal });
    await until(() => seen.length > before.seen);
    expect(seen[seen.length - 1]).toMatchObject({
      method: 'GET',
      url: '/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/l',
    });
    expect(seen[seen.length - 1].userAgent).toBe('spiderpool-guard/leader-election (replica-a)');
    ac.abort();
    await expect(call).rejects.toThrow(/abort/i);
    await until(() => closed > before.closed);
    expect(closed).toBe(before.closed + 1);
  });

  it('KubeReconcileClient.replacePoolStatus: an aborted write rejects and its connection is closed', async () => {
    const before = { closed, seen: seen.length };
    const ac = new AbortController();
    const client = new KubeReconcileClient(kubeConfig(), 'replica-b', false);
    const call = client.replacePoolStatus(
      'p',
      { metadata: { name: 'p', resourceVersion: '1' }, status: {} },
      { signal: ac.signal },
    );
    await until(() => seen.length > before.seen);
    expect(seen[seen.length - 1]).toMatchObject({
      method: 'PUT',
      userAgent: 'spiderpool-guard/reconciler (replica-b)',
    });
    ac.abort();
    await expect(call).rejects.toThrow(/abort/i);
    await until(() => closed > before.closed);
    expect(closed).toBe(before.closed + 1);
    client.close();
  });
});
