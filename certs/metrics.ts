import { Counter, Gauge } from 'prom-client';
import type { Registry } from 'prom-client';

export interface CertMetrics {
  setExpiry(kind: 'serving' | 'ca', notAfter: Date): void;
  rotated(kind: 'serving' | 'ca' | 'all'): void;
  injected(configuration: 'validating' | 'mutating'): void;
}

const EXPIRY = 'spiderpool_guard_tls_cert_expiry_timestamp_seconds';
const ROTATIONS = 'spiderpool_guard_tls_secret_writes_total';
const INJECTIONS = 'spiderpool_guard_tls_cabundle_injections_total';

function getOrCreate<T>(registry: Registry, name: string, make: () => T): T {
  return (registry.getSingleMetric(name) as T | undefined) ?? make();
}

/** Metrics on the given registry (idempotent: two sources on one registry share the metric objects). */
export function certMetrics(registry: Registry | undefined): CertMetrics {
  if (!registry) return { setExpiry: () => undefined, rotated: () => undefined, injected: () => undefined };
  const expiry = getOrCreate(
    registry,
    EXPIRY,
    () =>
      new Gauge({
        name: EXPIRY,
        help: 'Expiry (unix seconds) of the TLS certificate in use: kind=serving (leaf) or ca (earliest-expiring CA of the trust bundle)',
        labelNames: ['kind'],
        registers: [registry],
      }),
  );
  const writes = getOrCreate(
    registry,
    ROTATIONS,
    () =>
      new Counter({
        name: ROTATIONS,
        help: 'Writes of the certificate Secret by this replica: kind=all (new CA+cert), serving (serving cert renewed) or ca (CA bundle changed)',
        labelNames: ['kind'],
        registers: [registry],
      }),
  );
  const injections = getOrCreate(
    registry,
    INJECTIONS,
    () =>
      new Counter({
        name: INJECTIONS,
        help: 'caBundle writes into the webhook configurations by this replica',
        labelNames: ['configuration'],
        registers: [registry],
      }),
  );
  return {
    setExpiry: (kind, notAfter) => expiry.set({ kind }, Math.floor(notAfter.getTime() / 1000)),
    rotated: (kind) => writes.inc({ kind }),
    injected: (configuration) => injections.inc({ configuration }),
  };
}
