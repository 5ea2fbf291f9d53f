/**
 * How the API server served LISTs, from its own /metrics: how many were answered from its watch cache
 * (apiserver_cache_list_total) or from etcd (apiserver_storage_list_total), consistent reads served from the cache
 * (apiserver_watch_cache_consistent_read_total), and the server-side time of LIST requests
 * (apiserver_request_duration_seconds, verb LIST). Counters are read before and after a sync; the delta is what
 * the sync caused (anything else talking to the test bed meanwhile is counted too: run nothing beside it).
 */
import { KubeConfig } from '@kubernetes/client-node';
import * as https from 'node:https';

type Counters = Map<string, number>;

const WANTED = [
  'apiserver_cache_list_total',
  'apiserver_storage_list_total',
  'apiserver_watch_cache_consistent_read_total',
  'apiserver_request_duration_seconds_sum',
  'apiserver_request_duration_seconds_count',
];

async function metricsText(kc: KubeConfig): Promise<string> {
  const opts: https.RequestOptions = {};
  await kc.applyToHTTPSOptions(opts);
  const server = new URL(kc.getCurrentCluster()!.server);
  return new Promise((resolve, reject) => {
    const req = https.request(
      { ...opts, method: 'GET', hostname: server.hostname, port: server.port, path: '/metrics', timeout: 10_000 },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('GET /metrics timed out')));
    req.on('error', reject);
    req.end();
  });
}

function label(labels: string, name: string): string | undefined {
  return new RegExp(`(?:^|,)${name}="([^"]*)"`).exec(labels)?.[1];
}

/** The wanted counters, keyed "metric resource[ extra]"; request durations for verb LIST only. */
export async function apiServerListCounters(kc: KubeConfig): Promise<Counters> {
  const out: Counters = new Map();
  let text: string;
  try {
    text = await metricsText(kc);
  } catch {
    return out; // no metrics, no breakdown: the rest of the probe still counts
  }
  for (const line of text.split('\n')) {
    const m = /^([a-z_]+)\{([^}]*)\} ([0-9.e+-]+)$/.exec(line);
    if (!m || !WANTED.includes(m[1])) continue;
    const [, name, labels, value] = m;
    if (name.startsWith('apiserver_request_duration') && label(labels, 'verb') !== 'LIST') continue;
    const resource = label(labels, 'resource') ?? label(labels, 'resource_prefix') ?? '?';
    const extra = ['index', 'fallback', 'success']
      .map((l) => (label(labels, l) ? `${l}=${label(labels, l)}` : ''))
      .filter(Boolean)
      .join(',');
    const key = `${name} ${resource}${extra ? ` ${extra}` : ''}`;
    out.set(key, (out.get(key) ?? 0) + Number(value));
  }
  return out;
}

/** What changed between two readings (unchanged keys left out), rounded for printing. */
export function counterDelta(before: Counters, after: Counters): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [key, v] of after) {
    const d = v - (before.get(key) ?? 0);
    if (d !== 0) out[key] = Math.round(d * 1000) / 1000;
  }
  return out;
}
