/**
 * The admission benchmark's load generator, in a process of its own: it must not share an event loop (or a heap
 * and its GC pauses) with the bench's driver, which holds the test bed's clients and the populated fixtures.
 *
 * Protocol: one JSON command per stdin line, one JSON answer per stdout line, in order.
 *   {"op":"target","name":"guard","url":"https://...","caFile":"...","maxSockets":32}   → {"ok":true}
 *   {"op":"slice","target":"guard","bodyFile":"...","concurrency":8,"seconds":1,...}     → SliceResult
 */
import * as fs from 'node:fs';
import * as readline from 'node:readline';
import { LoadTarget, type SliceResult } from './load';

export type WorkerCommand =
  | { op: 'target'; name: string; url: string; caFile: string; maxSockets: number }
  | {
      op: 'slice';
      target: string;
      bodyFile: string;
      concurrency: number;
      seconds: number;
      minRequests?: number;
      maxSeconds?: number;
    };

export type WorkerAnswer = { ok: true } | { error: string } | SliceResult;

const targets = new Map<string, LoadTarget>();
const bodies = new Map<string, Buffer>();

async function answer(cmd: WorkerCommand): Promise<WorkerAnswer> {
  if (cmd.op === 'target') {
    targets.get(cmd.name)?.close();
    targets.set(cmd.name, new LoadTarget(cmd.url, fs.readFileSync(cmd.caFile, 'utf8'), cmd.maxSockets));
    return { ok: true };
  }
  const target = targets.get(cmd.target);
  if (!target) return { error: `unknown target ${cmd.target}` };
  let body = bodies.get(cmd.bodyFile);
  if (!body) {
    body = fs.readFileSync(cmd.bodyFile);
    bodies.set(cmd.bodyFile, body);
  }
  const r = await target.slice({
    body,
    concurrency: cmd.concurrency,
    seconds: cmd.seconds,
    minRequests: cmd.minRequests,
    maxSeconds: cmd.maxSeconds,
  });
  return { ...r, latencies: r.latencies.map((x) => Math.round(x * 100) / 100) };
}

async function main(): Promise<void> {
  const lines = readline.createInterface({ input: process.stdin });
  for await (const line of lines) {
    if (!line.trim()) continue;
    let out: WorkerAnswer;
    try {
      out = await answer(JSON.parse(line) as WorkerCommand);
    } catch (err) {
      out = { error: (err as Error).message };
    }
    process.stdout.write(JSON.stringify(out) + '\n');
  }
  for (const t of targets.values()) t.close();
}

void main();
