// The webhook listener's drain on SIGTERM (admission/drain.ts), on a real loopback HTTP server: answers keep
// coming while it drains, each closing its connection, and the calls in flight finish before the connections close.
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { ListenerDrain } from '../../../webhook/admission/drain';
import { createLogger } from '../../../webhook/log/logger';

interface Answer {
  status: number;
  connection: string | undefined;
  body: string;
}

/** A server whose answer to /slow?ms=N comes after N ms (a decision waiting on a fresh read). */
async function startServer(): Promise<{ server: http.Server; port: number; drain: ListenerDrain }> {
  const server = http.createServer((req, res) => {
    const ms = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('ms') ?? 0);
    setTimeout(() => res.end('answered'), ms).unref();
  });
  const drain = new ListenerDrain(createLogger('silent'));
  drain.attach(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port, drain };
}

function get(port: number, path: string, agent: http.Agent | false = false): Promise<Answer> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path, agent }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, connection: res.headers.connection, body }));
      })
      .on('error', reject);
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('ListenerDrain: a stopping replica answers instead of failing calls open', () => {
  let server: http.Server | undefined;
  afterEach(() => {
    server?.closeAllConnections();
    server?.close();
  });

  it('before the stop: serving, answers keep their connection', async () => {
    const s = await startServer();
    server = s.server;
    const agent = new http.Agent({ keepAlive: true });
    expect(s.drain.serving).toBe(true);
    expect(await get(s.port, '/', agent)).toMatchObject({ status: 200, connection: 'keep-alive' });
    agent.destroy();
  });

  it('while draining: not serving (readiness), new connections answered with Connection: close, then the listener refuses', async () => {
    const s = await startServer();
    server = s.server;
    const stopped = s.drain.stop({ drainMs: 400, inflightMaxMs: 1000 });
    expect(s.drain.serving).toBe(false);
    await sleep(50);
    expect(await get(s.port, '/')).toEqual({ status: 200, connection: 'close', body: 'answered' });
    const result = await stopped;
    expect(result).toEqual({ answeredWhileDraining: 1, cutOff: 0 });
    await expect(get(s.port, '/')).rejects.toThrow(/ECONNREFUSED/);
  });

  it('a kept-alive connection used during the drain carries its call and is then closed by the answer', async () => {
    const s = await startServer();
    server = s.server;
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    expect((await get(s.port, '/', agent)).connection).toBe('keep-alive');
    const stopped = s.drain.stop({ drainMs: 300, inflightMaxMs: 1000 });
    const during = await get(s.port, '/', agent);
    expect(during).toEqual({ status: 200, connection: 'close', body: 'answered' });
    await stopped;
    agent.destroy();
  });

  it('a call in flight when the stop begins is answered (with Connection: close), also past the drain delay', async () => {
    const s = await startServer();
    server = s.server;
    const slow = get(s.port, '/slow?ms=400');
    await sleep(50);
    const stopped = s.drain.stop({ drainMs: 0, inflightMaxMs: 2000 });
    expect(await slow).toEqual({ status: 200, connection: 'close', body: 'answered' });
    expect(await stopped).toEqual({ answeredWhileDraining: 1, cutOff: 0 });
  });

  it('a call that overruns the in-flight limit is cut off, and counted', async () => {
    const s = await startServer();
    server = s.server;
    const slow = get(s.port, '/slow?ms=3000').then(
      () => 'answered',
      (err: Error) => err.message,
    );
    await sleep(50);
    const result = await s.drain.stop({ drainMs: 0, inflightMaxMs: 100 });
    expect(result.cutOff).toBe(1);
    expect(await slow).toMatch(/socket hang up|ECONNRESET/);
  });
});
