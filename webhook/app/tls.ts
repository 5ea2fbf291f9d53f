// Where the serving certificate comes from, as a typed value, and the certs/ source that provides it.
import type { KubeConfig } from '@kubernetes/client-node';
import type { Registry } from 'prom-client';
import { fileTlsSource, selfManagedTlsSource } from '../../certs';
import type { LoadableTlsSource } from '../../certs';
import type { Logger } from '../log';

export const TLS_KEY_TYPES = ['rsa', 'ec'] as const;

export type TlsConfig =
  /** certificate and key files, reloaded when they change */
  | { kind: 'files'; certFile: string; keyFile: string; caFile?: string }
  /** a CA and serving certificate kept in a Secret, the CA injected into the webhook configurations */
  | {
      kind: 'self-managed';
      namespace: string;
      secretName: string;
      serviceName: string;
      extraDnsNames: string[];
      extraIps: string[];
      validatingWebhookName: string;
      mutatingWebhookName: string;
      keyType: (typeof TLS_KEY_TYPES)[number];
    };

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
