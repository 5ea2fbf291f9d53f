export type { TlsMaterial, TlsSource, LoadableTlsSource } from './tls-source';
export { fileTlsSource } from './file-source';
export type { FileTlsSourceOptions } from './file-source';
export { selfManagedTlsSource } from './self-managed';
export type { SelfManagedOptions, SelfManagedTlsSource, SelfManagedStatus } from './self-managed';
export type { KeyType } from './pki';
export { createWebhookHttpsServer } from './tls-options';
export type { WebhookTlsOptions } from './tls-options';
