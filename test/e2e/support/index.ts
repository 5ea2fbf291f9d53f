/** e2e test helpers: test bed access (cluster.ts) and Spiderpool object helpers (spiderpool.ts). */
export * from './cluster';
export * from './spiderpool';
