/**
 * The stress bench's probe, in a process of its own: a legitimate review sent one after another (100 ms apart) during
 * a burst, alternately on a new connection (as a webhook call after an idle while: TCP accept and TLS handshake
 * included) and on one kept-alive connection (as the API server, which reuses its connections to a webhook). In the bench's own process its latency
 * included that process's event loop, busy encrypting the burst's bodies; here it measures the guard.
 *
 * Protocol: argv url caFile bodyFile; it prints "ready", then for each stdin line "go <seconds>" probes for that
 * long and prints one JSON line {"latencies":[ms...],"statuses":{...},"keptAlive":{"latencies":[...],"statuses":{...}}}.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as https from 'node:https';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { post } from './https-post';

export interface ProbeSeries {
  latencies: number[];
  statuses: Record<string, number>;
}

/** `latencies`/`statuses`: the probes on a new connection each; `keptAlive`: those on the one kept-alive connection */
export interface ProbeResult extends ProbeSeries {
  keptAlive: ProbeSeries;
}

async function probeFor(
  url: string,
  ca: string,
  body: Buffer,
  seconds: number,
  agent: https.Agent,
): Promise<ProbeResult> {
  const fresh: ProbeSeries = { latencies: [], statuses: {} };
  const kept: ProbeSeries = { latencies: [], statuses: {} };
  const until = Date.now() + seconds * 1000;
  for (let i = 0; Date.now() < until; i++) {
    const [series, via] = i % 2 === 0 ? [fresh, false as const] : [kept, agent];
    const a = await post(url, ca, body, via);
    series.latencies.push(Math.round(a.ms));
    series.statuses[a.status] = (series.statuses[a.status] ?? 0) + 1;
    await new Promise((r) => setTimeout(r, 100));
  }
  return { ...fresh, keptAlive: kept };
}

/** The bench's side: one prober process, started once, asked to probe during each burst. */
export class Prober {
  private readonly child: ChildProcess;
  private readonly lines: AsyncIterator<string>;

  private constructor(url: string, caFile: string, bodyFile: string) {
    this.child = spawn(process.execPath, ['--import', 'tsx', __filename, url, caFile, bodyFile], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    this.lines = readline.createInterface({ input: this.child.stdout! })[Symbol.asyncIterator]();
  }

  static async start(url: string, ca: string, body: Buffer, dir: string): Promise<Prober> {
    const caFile = path.join(dir, 'prober-ca.pem');
    const bodyFile = path.join(dir, 'prober-body.json');
    fs.writeFileSync(caFile, ca);
    fs.writeFileSync(bodyFile, body);
    const p = new Prober(url, caFile, bodyFile);
    await p.next(); // "ready"
    return p;
  }

  private async next(): Promise<string> {
    const r = await this.lines.next();
    if (r.done) throw new Error('prober exited');
    return r.value;
  }

  async probe(seconds: number): Promise<ProbeResult> {
    this.child.stdin!.write(`go ${seconds}\n`);
    return JSON.parse(await this.next()) as ProbeResult;
  }

  stop(): void {
    this.child.stdin!.end();
  }
}

async function main(): Promise<void> {
  const [url, caFile, bodyFile] = process.argv.slice(2);
  const ca = fs.readFileSync(caFile, 'utf8');
  const body = fs.readFileSync(bodyFile);
  const agent = new https.Agent({ keepAlive: true, maxSockets: 1 });
  await post(url, ca, body, agent); // the kept-alive connection opened before any burst
  process.stdout.write('ready\n');
  for await (const line of readline.createInterface({ input: process.stdin })) {
    const seconds = Number(/^go (\S+)$/.exec(line.trim())?.[1]);
    if (!(seconds > 0)) continue;
    process.stdout.write(JSON.stringify(await probeFor(url, ca, body, seconds, agent)) + '\n');
  }
  agent.destroy();
}

if (require.main === module) void main();
