// webhook/app: composition. Builds the API clients, the TLS source and the listeners, and wires admission/ and
// reconciler/ (which never import each other) into one running guard; the only room besides cli/ that imports certs/.
// How to change this room: a new serve setting is a GuardConfig field (options.ts) that startGuard (guard.ts) passes on;
// cli/serve.ts adds its flag and docs/operations.md its row (`npm run -s docs:flags`).
export { allocatorOfMaps, nativeAllocator } from './allocator';
export type { NativeAllocator } from './allocator';
export { GuardConfigError, startGuard } from './guard';
export type { RunningGuard } from './guard';
export { startHttpsServer } from './https';
export type { TlsPair } from './https';
export {
  DEFAULT_HOST,
  DEFAULT_METRICS_PORT,
  DEFAULT_PORT,
  DEFAULT_SHUTDOWN_DRAIN_MS,
  DEFAULT_TLS_SERVICE,
  podNamespace,
} from './options';
export type { AuditConfig, GuardConfig, ReconcilerConfig } from './options';
export { startReconciler } from './reconciler';
export type { ReconcilerOptions } from './reconciler';
export { TLS_KEY_TYPES, tlsSourceOf } from './tls';
export type { TlsConfig } from './tls';
