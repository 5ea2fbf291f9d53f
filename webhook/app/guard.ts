// The whole guard in one process: informer caches, the admission handler behind HTTPS (TLS from certs/), the ops
// listener, Events, the audit sink and, unless disabled, the reconciler, wired together and stopped in order.
// The lateral wires live here: a watched change asks the reconciler for a pass, a denial asks it to heal.
//
//   const guard = await startGuard(config, log);   // config: cli/serve.ts builds it from flags
//   ...
//   await guard.stop();
import http from 'node:http';
import https from 'node:https';
import { hostname } from 'node:os';
import { watchClientCaFile } from '../../certs';
import type { ClientCaFile, TlsMaterial, WebhookTlsOptions } from '../../certs';
import {
  AdmissionHandler,
  DEFAULT_WEBHOOK_TIMEOUT_MS,
  ListenerDrain,
  Readiness,
  createAdmissionApp,
  createAdmissionMetrics,
  decisionEffects,
  startOpsServer,
} from '../admission';
import { PinoAuditSink } from '../audit';
import {
  ApiFreshReader,
  KubeEventWriter,
  QueuedEventPublisher,
  kubevirtServed,
  reservedIPsServed,
  startClusterCache,
} from '../cluster';
import type { Logger } from '../log';
import type { Reconciler } from '../reconciler';
import { nativeAllocator } from './allocator';
import { startHttpsServer } from './https';
import { DEFAULT_SHUTDOWN_DRAIN_MS, type GuardConfig } from './options';
import { startReconciler } from './reconciler';
import { tlsSourceOf } from './tls';

/** A setting the guard cannot start with (the CLI reports it as a usage error). */
export class GuardConfigError extends Error {}

export interface RunningGuard {
  /** the bound HTTPS port (config.port 0 picks a free one) */
  readonly port: number;
  /** the bound metrics port; undefined when the listener is off */
  readonly metricsPort?: number;
  readonly handler: AdmissionHandler;
  readonly reconciler?: Reconciler;
  /** reopens the audit file (after logrotate moved it) */
  reopenAuditLog(): void;
  /**
   * Stops the reconciler (releasing the Lease) and the webhook listener (admission/drain.ts: with `drain`, it keeps
   * answering for config.shutdownDrainMs first; the calls in flight always finish), then the ops listener, the caches
   * and the TLS source; flushes the audit.
   */
  stop(options?: { drain?: boolean }): Promise<void>;
}

/** Watch events that can create work for the reconciler (issue #4): pods completed or deleted, StatefulSets
 * scaled, endpoints or pools changed. Other pod updates (status churn of running pods) and Node updates (heartbeats,
 * taints: pods on them are never acted on while terminating) wait for the periodic pass. */
function worthAPass(kind: string, type: string, o: Record<string, unknown>): boolean {
  if (kind === 'nodes') return false;
  if (kind !== 'pods') return true;
  if (type === 'DELETED') return true;
  const phase = (o.status as { phase?: string } | undefined)?.phase;
  return phase === 'Succeeded' || phase === 'Failed';
}

function boundPort(server: http.Server | https.Server | undefined, fallback: number): number {
  const address = server?.address();
  return typeof address === 'object' && address ? address.port : fallback;
}

export async function startGuard(config: GuardConfig, log: Logger): Promise<RunningGuard> {
  const kc = config.kubeConfig;
  const metrics = createAdmissionMetrics();
  const tls = tlsSourceOf(config.tls, kc, log, metrics.registry);
  const audit = new PinoAuditSink(log, { ...config.audit, registry: metrics.registry });
  const kubevirt = config.staticIp.kubevirt && (await kubevirtServed(kc));
  const reservedIPs = await reservedIPsServed(kc);
  if (!reservedIPs)
    log.warn(
      'spiderreservedips.spiderpool.spidernet.io is not served (or not readable): RESERVED_IP_IN_USE is not judged and no reserved IPs are counted',
    );
  let reconciler: Reconciler | undefined;
  const cache = startClusterCache(kc, log, {
    kubevirt,
    reservedIPs,
    staleAfterMs: config.staleAfterMs,
    registry: metrics.registry,
    onChange: (kind, type, o) => {
      if (worthAPass(kind, type, o)) reconciler?.trigger(`${kind} ${type.toLowerCase()}`);
    },
  });
  const fresh = new ApiFreshReader(kc, kubevirt);
  const events = !config.events
    ? undefined
    : new QueuedEventPublisher(new KubeEventWriter(kc, process.env.POD_NAME || hostname()), {
        onResult: (reason, result) => metrics.events.inc({ reason, result }),
        onError: (err, e) =>
          log.warn({ err, reason: e.reason, object: e.involvedObject }, `could not write event ${e.reason}`),
      });
  const handler = new AdmissionHandler({
    view: () => cache.view,
    synced: cache.synced,
    staleCaches: cache.stale,
    settings: { staticIp: config.staticIp, guardedUsers: config.guardedUsers, termination: config.termination },
    policy: config.policy,
    audit,
    log,
    fresh,
    metrics,
    failClosed: config.failClosed,
    onDecision: decisionEffects({
      events,
      heal: { requestHeal: (r) => reconciler?.requestHeal(r) },
      onError: (err) => log.error({ err }, 'decision effects failed (the decision stands)'),
    }),
  });
  const drain = new ListenerDrain(log);
  const readiness: Readiness = {
    // serving: false once a stop began, so the kubelet takes the replica out of the endpoints while it drains
    checks: () => ({ caches: cache.synced(), tls: tls.ready(), serving: drain.serving }),
    details: () => ({ caches: cache.status() }),
  };
  const app = createAdmissionApp(handler, readiness, log, { metrics, inflightBudgetBytes: config.inflightBudgetBytes });
  let material: TlsMaterial = await tls.whenLoaded();
  // Read once and kept: setSecureContext (certificate or client CA reload) merges it in again every time.
  const tlsOptions: WebhookTlsOptions = {};
  let clientCa: ClientCaFile | undefined;
  if (config.clientCaFile) {
    try {
      clientCa = watchClientCaFile(
        config.clientCaFile,
        (pem) => {
          tlsOptions.clientCa = pem;
          server.setSecureContext({ key: material.key, cert: material.cert });
        },
        log.child({ component: 'certs' }),
      );
    } catch (err) {
      throw new GuardConfigError(`--client-ca-file ${config.clientCaFile}: ${(err as Error).message}`);
    }
    tlsOptions.clientCa = clientCa.current();
  }
  const server: https.Server = await startHttpsServer(app, material, config.port, config.host, tlsOptions);
  drain.attach(server);
  tls.onChange((m) => {
    material = m;
    server.setSecureContext({ key: m.key, cert: m.cert });
    log.info({ notAfter: m.notAfter.toISOString() }, 'serving certificate reloaded');
  });
  const metricsServer: http.Server | undefined =
    config.metricsPort > 0
      ? await startOpsServer(config.metricsPort, config.metricsHost, metrics.registry, readiness, log)
      : undefined;
  const port = boundPort(server, config.port);
  const metricsPort = metricsServer ? boundPort(metricsServer, config.metricsPort) : undefined;
  log.info(
    {
      port,
      host: config.host,
      metricsPort: metricsPort ?? config.metricsPort,
      metricsHost: config.metricsHost,
      clientVerification: config.clientCaFile !== undefined,
      mode: config.policy.defaultMode,
      kubevirt,
      allocator: nativeAllocator(),
    },
    'spiderpool-guard serving',
  );
  if (config.reconciler !== false) {
    reconciler = startReconciler({
      ...config.reconciler,
      source: cache,
      kubeConfig: kc,
      staticIp: config.staticIp,
      terminationHoldMaxMs: config.termination?.holdMaxMs,
      kubevirt,
      events: config.events,
      registry: metrics.registry,
      log,
    });
  }
  return {
    port,
    metricsPort,
    handler,
    reconciler,
    reopenAuditLog: () => audit.reopen(),
    async stop(options = {}) {
      // the calls in flight are answered within their deadline (the webhook timeout, 10 s by default and the chart's
      // 5 s, minus a second); the ops listener stays up meanwhile, so the kubelet's probe sees "not ready"
      const drainMs = options.drain ? (config.shutdownDrainMs ?? DEFAULT_SHUTDOWN_DRAIN_MS) : 0;
      await Promise.all([reconciler?.stop(), drain.stop({ drainMs, inflightMaxMs: DEFAULT_WEBHOOK_TIMEOUT_MS })]);
      metricsServer?.close();
      clientCa?.stop();
      cache.stop();
      fresh.close();
      await tls.stop();
      audit.flush();
    },
  };
}
