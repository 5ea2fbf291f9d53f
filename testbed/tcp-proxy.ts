// A TCP proxy in front of the API server that can freeze: while frozen nothing is forwarded in either direction and
// no connection is closed, like a network path that silently stops delivering. Bytes sent meanwhile are held at the
// freeze point. On thaw they are delivered, unless the side that sent them gave up (closed its connection) during
// the freeze: then they are dropped and the other side is closed too, as with a partition where the sender's
// retransmissions end when it resets. So a client that aborts a request during a freeze never gets it delivered,
// and one that keeps waiting gets it delivered late, exactly the two behaviours a leader-freeze test tells apart.
//
//   const proxy = await TcpProxy.start('127.0.0.1', apiserverPort);
//   kubeconfig server -> https://127.0.0.1:${proxy.port}   (TLS passes through; the certificate names 127.0.0.1)
//   proxy.freeze(); ...; proxy.thaw(); proxy.cut(); await proxy.stop();
import * as net from 'node:net';

interface Pair {
  client: net.Socket;
  upstream?: net.Socket;
  toUpstream: Buffer[];
  toClient: Buffer[];
  clientGone: boolean;
  upstreamGone: boolean;
}

export interface ProxyStats {
  connections: number;
  /** client bytes never delivered: their sender closed the connection during a freeze */
  droppedToServerBytes: number;
  /** connections torn down at thaw because a side gave up during the freeze */
  droppedConnections: number;
}

const size = (chunks: Buffer[]) => chunks.reduce((n, c) => n + c.length, 0);

export class TcpProxy {
  private frozen = false;
  private readonly pairs = new Set<Pair>();
  readonly stats: ProxyStats = { connections: 0, droppedToServerBytes: 0, droppedConnections: 0 };

  private constructor(
    private readonly server: net.Server,
    private readonly targetHost: string,
    private readonly targetPort: number,
  ) {
    server.on('connection', (client) => this.accept(client));
  }

  static async start(targetHost: string, targetPort: number): Promise<TcpProxy> {
    const proxy = new TcpProxy(net.createServer(), targetHost, targetPort);
    await new Promise<void>((resolve) => proxy.server.listen(0, '127.0.0.1', resolve));
    return proxy;
  }

  get port(): number {
    return (this.server.address() as net.AddressInfo).port;
  }

  isFrozen(): boolean {
    return this.frozen;
  }

  freeze(): void {
    this.frozen = true;
  }

  thaw(): void {
    this.frozen = false;
    for (const p of [...this.pairs]) {
      if (p.clientGone) {
        // the client gave up during the freeze: what it sent is lost with its connection
        this.stats.droppedToServerBytes += size(p.toUpstream);
        this.stats.droppedConnections++;
        p.toUpstream.length = 0;
      }
      if (p.clientGone || p.upstreamGone) this.close(p);
      else {
        if (!p.upstream) this.connect(p);
        this.flush(p);
      }
    }
  }

  /**
   * Closes every connection open now, both sides, dropping what is in flight (held by a freeze), as a reset path
   * would; new connections are still accepted (and, while frozen, connected only at thaw).
   */
  cut(): void {
    for (const p of [...this.pairs]) {
      p.toClient.length = 0;
      p.toUpstream.length = 0;
      this.close(p);
    }
  }

  async stop(): Promise<void> {
    for (const p of [...this.pairs]) this.close(p);
    await new Promise((resolve) => this.server.close(resolve));
  }

  private accept(client: net.Socket): void {
    this.stats.connections++;
    const p: Pair = { client, toUpstream: [], toClient: [], clientGone: false, upstreamGone: false };
    this.pairs.add(p);
    client.on('data', (chunk: Buffer) => {
      p.toUpstream.push(chunk);
      if (!this.frozen) this.flush(p);
    });
    const gone = () => {
      p.clientGone = true;
      if (!this.frozen) this.close(p);
    };
    client.on('end', gone);
    client.on('close', gone);
    client.on('error', gone);
    if (!this.frozen) this.connect(p); // a connection opened during a freeze is not even connected until thaw
  }

  private connect(p: Pair): void {
    const upstream = net.connect(this.targetPort, this.targetHost);
    p.upstream = upstream;
    upstream.on('data', (chunk: Buffer) => {
      p.toClient.push(chunk);
      if (!this.frozen) this.flush(p);
    });
    const gone = () => {
      p.upstreamGone = true;
      if (!this.frozen) this.close(p);
    };
    upstream.on('end', gone);
    upstream.on('close', gone);
    upstream.on('error', gone);
  }

  private flush(p: Pair): void {
    if (p.upstream && !p.upstreamGone) for (const c of p.toUpstream.splice(0)) p.upstream.write(c);
    if (!p.clientGone) for (const c of p.toClient.splice(0)) p.client.write(c);
  }

  private close(p: Pair): void {
    if (!this.pairs.delete(p)) return;
    // deliver what is already due to a side that is still there (a normal close), then end both
    this.flush(p);
    p.client.end();
    p.upstream?.end();
    setTimeout(() => {
      p.client.destroy();
      p.upstream?.destroy();
    }, 1000).unref();
  }
}
