/**
 * The stress bench's probe, in a process of its own: a legitimate review sent one after another (100 ms apart, a new
 * connection each, as a webhook call after an idle while) during a burst. In the bench's own process its latency
 * included that process's event loop, busy encrypting the burst's bodies; here it measures the guard.
 *
 * Protocol: argv url caFile bodyFile; it prints "ready", then for each stdin line "go <seconds>" probes for that
 * long and prints one JSON line {"latencies":[ms...],"statuses":{...}}.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { post } from './https-post';

export interface ProbeResult {
  latencies: number[];
  statuses: Record<string, number>;
}

async function probeFor(url: string, ca: string, body: Buffer, seconds: number): Promise<ProbeResult> {
  const latencies: number[] = [];
  const statuses: Record<string, number> = {};
  const until = Date.now() + seconds * 1000;
  while (Date.now() < until) {
    const a = await post(url, ca, body, false);
    latencies.push(Math.round(a.ms));
    statuses[a.status] = (statuses[a.status] ?? 0) + 1;
    await new Promise((r) => setTimeout(r, 100));
  }
  return { latencies, statuses };
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
  process.stdout.write('ready\n');
  for await (const line of readline.createInterface({ input: process.stdin })) {
    const seconds = Number(/^go (\S+)$/.exec(line.trim())?.[1]);
    if (!(seconds > 0)) continue;
    process.stdout.write(JSON.stringify(await probeFor(url, ca, body, seconds)) + '\n');
  }
}

if (require.main === module) void main();
