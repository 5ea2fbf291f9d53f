/** The driver's handle on the load-generator process (load-worker.ts): commands in, answers out, one at a time. */
import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import * as readline from 'node:readline';
import type { SliceResult } from './load';
import type { WorkerAnswer, WorkerCommand } from './load-worker';

export class LoadProcess {
  private readonly waiting: ((a: WorkerAnswer) => void)[] = [];
  private exited?: Error;

  private constructor(private readonly child: ChildProcess) {
    readline
      .createInterface({ input: child.stdout! })
      .on('line', (line) => this.waiting.shift()?.(JSON.parse(line) as WorkerAnswer));
    child.once('exit', (code) => {
      this.exited = new Error(`load generator exited with ${code}`);
      for (const w of this.waiting.splice(0)) w({ error: this.exited.message });
    });
  }

  static start(tsxBin: string): LoadProcess {
    return new LoadProcess(
      spawn(tsxBin, [path.join(__dirname, 'load-worker.ts')], { stdio: ['pipe', 'pipe', 'inherit'] }),
    );
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  private send(cmd: WorkerCommand): Promise<WorkerAnswer> {
    if (this.exited) return Promise.reject(this.exited);
    return new Promise((resolve) => {
      this.waiting.push(resolve);
      this.child.stdin!.write(JSON.stringify(cmd) + '\n');
    });
  }

  async target(name: string, url: string, caFile: string, maxSockets: number): Promise<void> {
    const a = await this.send({ op: 'target', name, url, caFile, maxSockets });
    if ('error' in a) throw new Error(a.error);
  }

  async slice(cmd: Omit<Extract<WorkerCommand, { op: 'slice' }>, 'op'>): Promise<SliceResult> {
    const a = await this.send({ op: 'slice', ...cmd });
    if ('error' in a) throw new Error(`slice of ${cmd.target}: ${a.error}`);
    return a as SliceResult;
  }

  stop(): void {
    this.child.stdin!.end();
    this.child.kill('SIGTERM');
  }
}
