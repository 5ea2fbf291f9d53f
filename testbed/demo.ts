/**
 * `npm run demo`: the product in one run. Starts a real kube-apiserver + etcd + kube-controller-manager on loopback
 * (building the binaries on first use), replays Spiderpool v0.9.4's StatefulSet scale-down/up bug (docs/architecture.md#gc-races)
 * once without and once with the guard, prints what happened, and tears everything down.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { clientsFor } from './clients';
import { CLI_ENTRY, loopbackCerts, registerWebhooks, startGuard, unregisterWebhooks, type GuardProcess } from './guard';
import { runStsScaleDownUp, type ScenarioResult } from './sts-scenario';
import { SPIDERPOOL_AGENT, SPIDERPOOL_CONTROLLER, startTestbed, type Testbed } from './testbed';

const out = (line = '') => process.stdout.write(line + '\n');
const bold = (s: string) => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s);

function summary(label: string, r: ScenarioResult): void {
  out();
  out(bold(`  ${label}: result`));
  out(
    `    record of ${r.ip} in pool ${r.pool}: ${r.finalRecord ? `${r.finalRecord.pod} uid ${r.finalRecord.podUid}` : 'RELEASED'}`,
  );
  out(
    `    pods using ${r.ip}: ${r.podsWithIp.join(', ') || 'none'}${r.podsWithIp.length > 1 ? '   <-- two pods, one IP' : ''}`,
  );
}

async function createNamespace(tb: Testbed, name: string): Promise<string> {
  const { core } = clientsFor(tb.kubeConfig());
  await core.createNamespace({ body: { metadata: { name } } });
  for (let i = 0; i < 100; i++) {
    try {
      await core.readNamespacedServiceAccount({ namespace: name, name: 'default' });
      return name;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error(`namespace ${name}: default ServiceAccount never appeared`);
}

const indent = (text: string) =>
  text
    .trimEnd()
    .split('\n')
    .map((l) => `    ${l}`)
    .join('\n');

/** `check --capacity` of the built CLI against the demo's cluster: what an operator would run next. */
async function capacityTable(kubeconfigPath: string): Promise<string> {
  try {
    const { stdout } = await promisify(execFile)(process.execPath, [
      CLI_ENTRY,
      'check',
      '--capacity',
      '--kubeconfig',
      kubeconfigPath,
      '--settle-seconds',
      '0',
    ]);
    return stdout;
  } catch (err) {
    // exit 1: error-level findings (the unguarded namespace's shared IP); the table is printed all the same
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return e.code === 1 && e.stdout ? e.stdout : `check --capacity failed (exit ${e.code}): ${e.stderr ?? ''}`;
  }
}

async function main(): Promise<number> {
  const t0 = Date.now();
  out(bold('spiderpool-guard demo'));
  out(
    'Starting a real kube-apiserver + etcd + kube-controller-manager on 127.0.0.1 (first run builds them: minutes)...',
  );
  const tb = await startTestbed({ name: 'demo', showProgress: true });
  let guard: GuardProcess | undefined;
  try {
    const admin = clientsFor(tb.kubeConfig());
    const actors = {
      admin,
      agent: clientsFor(tb.asServiceAccount(SPIDERPOOL_AGENT.namespace, SPIDERPOOL_AGENT.name)),
      gc: clientsFor(tb.asServiceAccount(SPIDERPOOL_CONTROLLER.namespace, SPIDERPOOL_CONTROLLER.name)),
    };
    out(`API server ready at ${tb.apiserverUrl}`);
    out();
    out(bold('1. Without the guard: Spiderpool v0.9.4 GC, StatefulSet scaled 3→2→3 quickly'));
    const unguarded = await runStsScaleDownUp(actors, await createNamespace(tb, 'demo-unguarded'), '10.6', (l) =>
      out(`    ${l}`),
    );
    summary('without the guard', unguarded);

    out();
    out(
      bold(
        '2. With spiderpool-guard (enforce mode, validating + mutating webhooks on spiderippools/status and spiderendpoints)',
      ),
    );
    const certs = await loopbackCerts();
    guard = await startGuard({ kubeconfigPath: tb.kubeconfigPath, certs });
    await registerWebhooks(admin.kc, { baseUrl: guard.url, caBundle: certs.ca, name: 'spiderpool-guard-demo' });
    out(`    guard serving at ${guard.url}, registered with the API server`);
    const guarded = await runStsScaleDownUp(actors, await createNamespace(tb, 'demo-guarded'), '10.16', (l) =>
      out(`    ${l}`),
    );
    summary('with the guard', guarded);
    const denial = guard.auditEvents().find((e) => e.event === 'admission.denied' && e.rule === 'LIVE_IP_RELEASE');
    if (denial) {
      out();
      out(bold('  the audit line the guard wrote for the denied release:'));
      out(`    ${JSON.stringify(denial)}`);
    }
    await unregisterWebhooks(admin.kc, 'spiderpool-guard-demo');

    out();
    out(bold('3. The pools now: spiderpool-guard check --capacity'));
    out(indent(await capacityTable(tb.kubeconfigPath)));

    const ok =
      unguarded.podsWithIp.length > 1 &&
      guarded.podsWithIp.length === 1 &&
      !guarded.gcRelease.ok &&
      !!guarded.finalRecord;
    out();
    out(
      ok
        ? bold(
            `Without the guard ${unguarded.podsWithIp.length} pods share ${unguarded.ip}; with it the release was denied and the pool stayed correct.`,
          )
        : bold('Unexpected outcome: see the lines above.'),
    );
    out(`(${((Date.now() - t0) / 1000).toFixed(1)} s; tearing down)`);
    return ok ? 0 : 1;
  } finally {
    await guard?.stop();
    await tb.stop();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`demo failed: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
