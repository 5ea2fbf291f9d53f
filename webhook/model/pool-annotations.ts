// Spiderpool's pool-selection annotations (pod annotations, or a StatefulSet's pod template annotations). The guard
// reads them for one question only: which pools will a StatefulSet member's next incarnation use? Spiderpool releases
// a member's IPs from pools its next incarnation no longer names (releaseStsOutdatedIPIfNeed), so those IPs are not
// kept for a restart.
//
// Spiderpool's order of precedence: a subnet annotation (SpiderSubnet feature, pools created for the application),
// then `ipam.spidernet.io/ippools`, then `ipam.spidernet.io/ippool`, then namespace and cluster defaults.

export const IPPOOLS_ANNOTATION = 'ipam.spidernet.io/ippools';
export const IPPOOL_ANNOTATION = 'ipam.spidernet.io/ippool';
export const SUBNETS_ANNOTATION = 'ipam.spidernet.io/subnets';
export const SUBNET_ANNOTATION = 'ipam.spidernet.io/subnet';

/** The only annotation keys the trimmed facts keep. */
export const POOL_SELECTION_ANNOTATIONS = [
  IPPOOLS_ANNOTATION,
  IPPOOL_ANNOTATION,
  SUBNETS_ANNOTATION,
  SUBNET_ANNOTATION,
] as const;

export type PoolAnnotations = Readonly<Partial<Record<(typeof POOL_SELECTION_ANNOTATIONS)[number], string>>>;

/** The pool-selection annotations among `annotations` (string values only), or undefined when there are none. */
export function pickPoolAnnotations(annotations: Record<string, unknown>): PoolAnnotations | undefined {
  let out: Record<string, string> | undefined;
  for (const key of POOL_SELECTION_ANNOTATIONS) {
    const value = annotations[key];
    if (typeof value === 'string') (out ??= {})[key] = value;
  }
  return out;
}

function isStringList(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((x) => typeof x === 'string');
}

/** {ipv4?: [...], ipv6?: [...]} (one NIC of ippools, or the whole ippool annotation) → its pool names, or undefined. */
function poolsOfNic(nic: unknown): string[] | undefined {
  if (nic === null || typeof nic !== 'object' || Array.isArray(nic)) return undefined;
  const { ipv4, ipv6 } = nic as Record<string, unknown>;
  if ((ipv4 !== undefined && !isStringList(ipv4)) || (ipv6 !== undefined && !isStringList(ipv6))) return undefined;
  return [...(ipv4 ?? []), ...(ipv6 ?? [])];
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/**
 * The pools the annotations name, or undefined when they do not name pools. Conservative on purpose: whenever the
 * annotations do not say plainly which pools will be used (a subnet annotation, malformed JSON, a wrong shape, no
 * pool at all) the answer is "not named", which keeps the member restarting for every pool, as without annotations.
 */
export function namedPools(annotations: PoolAnnotations | undefined): ReadonlySet<string> | undefined {
  if (!annotations) return undefined;
  if (annotations[SUBNETS_ANNOTATION] !== undefined || annotations[SUBNET_ANNOTATION] !== undefined) return undefined;
  let names: string[] | undefined;
  const multi = annotations[IPPOOLS_ANNOTATION];
  if (multi !== undefined) {
    // It takes precedence: when it is malformed Spiderpool fails the ADD rather than falling back to `ippool`.
    const nics = parseJson(multi);
    if (!Array.isArray(nics)) return undefined;
    names = [];
    for (const nic of nics) {
      const pools = poolsOfNic(nic);
      if (!pools) return undefined;
      names.push(...pools);
    }
  } else if (annotations[IPPOOL_ANNOTATION] !== undefined) {
    names = poolsOfNic(parseJson(annotations[IPPOOL_ANNOTATION]));
  }
  return names && names.length > 0 ? new Set(names) : undefined;
}
