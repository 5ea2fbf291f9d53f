/** IPv4 pool arithmetic the simulated agent needs: spec.ips ranges ("a-b" or single) minus spec.excludeIPs. */

function toInt(ip: string): number {
  const p = ip.split('.').map(Number);
  if (p.length !== 4 || p.some((x) => !Number.isInteger(x) || x < 0 || x > 255))
    throw new Error(`not an IPv4 address: ${ip}`);
  return ((p[0] << 24) >>> 0) + (p[1] << 16) + (p[2] << 8) + p[3];
}

function toIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

function expand(entries: string[]): string[] {
  const out: string[] = [];
  for (const e of entries) {
    const [a, b] = e.split('-');
    const start = toInt(a.trim());
    const end = b ? toInt(b.trim()) : start;
    for (let n = start; n <= end; n++) out.push(toIp(n));
  }
  return out;
}

/** Usable IPs in spec order (first-fit walks them in this order). */
export function usableIps(spec: { ips?: string[]; excludeIPs?: string[] }): string[] {
  const excluded = new Set(expand(spec.excludeIPs ?? []));
  return expand(spec.ips ?? []).filter((ip) => !excluded.has(ip));
}

/** `count` consecutive host addresses of a /24 starting at .2: what G00012's pool looks like. */
export function hostRange(net: string, count: number): string {
  return `${net}.2-${net}.${count + 1}`;
}
