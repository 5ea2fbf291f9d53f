// Where the serving certificate comes from, as a typed value, and the certs/ source that provides it.
import type { KubeConfig } from '@kubernetes/client-node';
import type { Registry } from 'prom-client';
import { fileTlsSource, selfManagedTlsSource } from '../../certs';
import type { LoadableTlsSource, SelfManagedOptions } from '../../certs';
import type { Logger } from '../log';

export const TLS_KEY_TYPES = ['rsa', 'ec'] as const;

export type TlsConfig =
  /** certificate and key files, reloaded when they change */
  | { kind: 'files'; certFile: string; keyFile: string; caFile?: string }
  /** a CA and serving certificate kept in a Secret, the CA injected into the webhook configurations */
  | ({ kind: 'self-managed' } & Pick<SelfManagedOptions, SelfManagedConfigKey>);

// The self-managed options a configuration chooses (the rest, clients, clock and logger, are the process's own): picked
// from the certs/ options so the two cannot drift.
type SelfManagedConfigKey =
  | 'namespace'
  | 'secretName'
  | 'serviceName'
  | 'extraDnsNames'
  | 'extraIps'
  | 'validatingWebhookName'
  | 'mutatingWebhookName'
  | 'keyType';

/** The certs/ source for a TlsConfig (not started: the caller awaits whenLoaded()). */
export function tlsSourceOf(config: TlsConfig, kc: KubeConfig, log: Logger, registry: Registry): LoadableTlsSource {
  const logger = log.child({ component: 'certs' });
  if (config.kind === 'files')
    return fileTlsSource({
      certFile: config.certFile,
      keyFile: config.keyFile,
      caFile: config.caFile,
      logger,
      registry,
    });
  const { kind: _kind, ...selfManaged } = config;
  return selfManagedTlsSource({ kubeConfig: kc, ...selfManaged, logger, registry });
}
