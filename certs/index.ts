// certs/: the webhook's serving certificate, from files or self-managed in a Secret (CA, rotation plan, caBundle injection, hot reload). Imports only lib/; webhook/app is its only user.
// How to change this room: the rotation decisions are pure (plan.ts, tested in test/unit/certs/plan.test.ts); what touches the API server stays in kube-io.ts; docs/operations.md (Upgrades and certificates) says what an operator sees.
export type { TlsMaterial, TlsSource, LoadableTlsSource } from './tls-source';
export { fileTlsSource } from './file-source';
export type { FileTlsSourceOptions } from './file-source';
export { selfManagedTlsSource } from './self-managed';
export type { SelfManagedOptions, SelfManagedTlsSource, SelfManagedStatus } from './self-managed';
export type { KeyType } from './pki';
export { createWebhookHttpsServer } from './tls-options';
export type { WebhookTlsOptions } from './tls-options';
export { watchClientCaFile } from './client-ca-file';
export type { ClientCaFile } from './client-ca-file';
