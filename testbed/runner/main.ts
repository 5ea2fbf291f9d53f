/**
 * The runner process of a test bed (spawned by the supervisor, cluster.ts, as `node --import tsx runner/main.ts
 * <config-json>`): runs a PodRunner until SIGTERM, then stops every pod and removes their sandboxes.
 */
import { log } from '../util';
import type { TestbedNetwork } from './network';
import { PodRunner } from './runner';

export interface RunnerConfig {
  kubeconfigPath: string;
  stateDir: string;
  net: TestbedNetwork;
  apiserverPort: number;
}

async function main(): Promise<void> {
  const config = JSON.parse(process.argv[2] ?? '') as RunnerConfig;
  const runner = new PodRunner({ ...config, log: (msg) => log('runner', msg) });
  let stopping = false;
  const stop = async (sig: string) => {
    if (stopping) return;
    stopping = true;
    log('runner', `${sig}: stopping every pod`);
    await runner.stop().catch((err: Error) => log('runner', `stop: ${err.message}`));
    process.exit(0);
  };
  for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(sig, () => void stop(sig));
  process.on('unhandledRejection', (err) =>
    log('runner', `unhandled rejection: ${(err as Error)?.stack ?? String(err)}`),
  );
  await runner.start();
  setInterval(() => {}, 1 << 30);
}

main().catch((err: Error) => {
  log('runner', `failed: ${err.stack ?? err.message}`);
  process.exit(1);
});
