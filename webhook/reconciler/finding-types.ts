// The consistency findings `check` prints and the reconciler plans from: their names, severities and what each
// one is about.
import { LivePodSummary } from '../guard';
import { EndpointFacts, MalformedEntry, PoolRecord, nsName } from '../model';
import { About } from './subjects';

export const FINDINGS = [
  'IP_CONFLICT',
  'ZOMBIE_IP_REUSE',
  'MISSING_RECORD',
  'RECORD_UID_MISMATCH',
  'RECORD_POD_MISSING',
  'RECORD_ENDPOINT_MISMATCH',
  'LEFTOVER_ENDPOINT',
  'COUNT_MISMATCH',
  'COMPLETED_POD_RECORD',
  'BLOCKING_ENDPOINT',
  'TERMINATION_UNCONFIRMED',
  'UNRECORDED_LIVE_IP',
  'DUPLICATE_INTERFACE_IP',
  'RESERVED_IP_IN_USE',
  'MALFORMED_POOL',
] as const;
export type FindingName = (typeof FINDINGS)[number];
export type Severity = 'error' | 'warn';

export const SEVERITY: Record<FindingName, Severity> = {
  IP_CONFLICT: 'error',
  ZOMBIE_IP_REUSE: 'error',
  MISSING_RECORD: 'error',
  RECORD_UID_MISMATCH: 'warn',
  RECORD_POD_MISSING: 'warn',
  RECORD_ENDPOINT_MISMATCH: 'warn',
  LEFTOVER_ENDPOINT: 'warn',
  COUNT_MISMATCH: 'warn',
  COMPLETED_POD_RECORD: 'warn',
  BLOCKING_ENDPOINT: 'error',
  TERMINATION_UNCONFIRMED: 'warn',
  UNRECORDED_LIVE_IP: 'error',
  DUPLICATE_INTERFACE_IP: 'warn',
  RESERVED_IP_IN_USE: 'warn',
  MALFORMED_POOL: 'error',
};

/** A SpiderEndpoint as findings and actions show it. */
export interface EndpointSummary {
  /** namespace/name */
  name: string;
  /** metadata.uid of the SpiderEndpoint object (delete precondition) */
  objectUid: string;
  resourceVersion: string;
  /** status.current.uid: the pod incarnation owning its IPs */
  podUid: string;
  ownerControllerType: string;
  ips: { ip: string; pool: string }[];
  deleting: boolean;
}

interface FindingBase {
  severity: Severity;
  /** why, in words */
  message: string;
}

export interface MalformedPoolFinding extends FindingBase, About<'pool'> {
  finding: 'MALFORMED_POOL';
  pool: string;
  /** the malformed entries (at most MALFORMED_LISTED of them) and how many there are */
  malformed: MalformedEntry[];
  malformedCount: number;
}
export interface CountMismatchFinding extends FindingBase, About<'pool' | 'allocatedIPCount' | 'records'> {
  finding: 'COUNT_MISMATCH';
  pool: string;
  allocatedIPCount: number | null;
  records: number;
}
/**
 * A pool record (ip → pod/podUid) whose pod is missing, has another uid, has completed, or whose endpoint disagrees.
 */
export interface RecordFinding extends FindingBase, About<'pool' | 'ip' | 'record' | 'pods' | 'endpoint'> {
  finding: 'RECORD_POD_MISSING' | 'RECORD_UID_MISMATCH' | 'RECORD_ENDPOINT_MISMATCH' | 'COMPLETED_POD_RECORD';
  pool: string;
  ip: string;
  record: PoolRecord;
  /** live pods of the record's name */
  pods?: LivePodSummary[];
  endpoint?: EndpointSummary;
}
export interface IpConflictFinding extends FindingBase, About<'pool' | 'ip' | 'record' | 'pods'> {
  finding: 'IP_CONFLICT';
  ip: string;
  pool?: string;
  record?: PoolRecord;
  pods: LivePodSummary[];
}
export interface MissingRecordFinding extends FindingBase, About<'pool' | 'ip' | 'pods' | 'endpoint'> {
  finding: 'MISSING_RECORD';
  pool: string;
  ip: string;
  pods: LivePodSummary[];
  endpoint: EndpointSummary;
}
export interface LeftoverEndpointFinding extends FindingBase, About<'pool' | 'ip' | 'pods' | 'endpoint'> {
  finding: 'LEFTOVER_ENDPOINT';
  /** the endpoint's first IP and its pool */
  ip?: string;
  pool?: string;
  pods?: LivePodSummary[];
  endpoint: EndpointSummary;
}

/** The endpoint of an earlier pod that keeps the pod now carrying its name from getting an IP (blocking-endpoint.ts). */
export interface BlockingEndpointFinding extends FindingBase, About<'pool' | 'ip' | 'pods' | 'endpoint'> {
  finding: 'BLOCKING_ENDPOINT';
  /** the endpoint's first IP and its pool */
  ip?: string;
  pool?: string;
  /** the blocked pod */
  pods: LivePodSummary[];
  endpoint: EndpointSummary;
}
/**
 * An IP observed on a pod whose termination is unconfirmed (its sandbox may still answer on it) that an alive pod
 * also observes, or that a pool records for another pod: the IP was reused while the old pod may still hold it.
 */
export interface ZombieIpReuseFinding extends FindingBase, About<'pool' | 'ip' | 'record' | 'pods' | 'node'> {
  finding: 'ZOMBIE_IP_REUSE';
  ip: string;
  /** the pool recording the IP for another pod, when one does */
  pool?: string;
  record?: PoolRecord;
  /** the terminating pod first, then the alive pods observing the IP */
  pods: LivePodSummary[];
  /** the node that has not confirmed the terminating pod stopped */
  node: string;
}
/** A record of a pod whose termination has stayed unconfirmed for more than 5 minutes: its IP is held. */
export interface TerminationUnconfirmedFinding extends FindingBase, About<'pool' | 'ip' | 'record' | 'pods' | 'node'> {
  finding: 'TERMINATION_UNCONFIRMED';
  pool: string;
  ip: string;
  record: PoolRecord;
  pods: LivePodSummary[];
  node: string;
}
/**
 * An alive pod observes an IP that belongs to a pool (pool IPs) and no pool records it. Needs no endpoint: a wrongful
 * release or an outdated-endpoint cleanup deletes exactly that.
 */
export interface UnrecordedLiveIpFinding extends FindingBase, About<'pool' | 'ip' | 'pods'> {
  finding: 'UNRECORDED_LIVE_IP';
  ip: string;
  /** the pool the IP belongs to (the first by name when several do) */
  pool: string;
  /** every pool whose pool IPs hold it, when more than one (then the reconciler restores nothing) */
  pools?: string[];
  /** the alive pods observing it (launcher pods of one VMI mid-migration count as one pod) */
  pods: LivePodSummary[];
}
/** One alive pod observes one IP on two or more interfaces (multus network-status). */
export interface DuplicateInterfaceIpFinding extends FindingBase, About<'pool' | 'ip' | 'pods'> {
  finding: 'DUPLICATE_INTERFACE_IP';
  ip: string;
  /** the pool the IP belongs to, when one does */
  pool?: string;
  interfaces: string[];
  pods: LivePodSummary[];
}
/** A SpiderReservedIP lists an IP that a pool records or an alive pod observes. */
export interface ReservedIpInUseFinding extends FindingBase, About<'pool' | 'ip' | 'record' | 'pods'> {
  finding: 'RESERVED_IP_IN_USE';
  ip: string;
  /** the SpiderReservedIP listing it */
  reservedIP: string;
  /** the pool recording it (the first by name when several do), and its record */
  pool?: string;
  record?: PoolRecord;
  /** alive pods observing it */
  pods?: LivePodSummary[];
}

export type Finding =
  | MalformedPoolFinding
  | CountMismatchFinding
  | RecordFinding
  | IpConflictFinding
  | MissingRecordFinding
  | LeftoverEndpointFinding
  | BlockingEndpointFinding
  | ZombieIpReuseFinding
  | TerminationUnconfirmedFinding
  | UnrecordedLiveIpFinding
  | DuplicateInterfaceIpFinding
  | ReservedIpInUseFinding;

export function summarizeEndpoint(e: EndpointFacts): EndpointSummary {
  return {
    name: nsName(e.namespace, e.name),
    objectUid: e.objectUid,
    resourceVersion: e.resourceVersion,
    podUid: e.podUid,
    ownerControllerType: e.ownerControllerType,
    ips: e.ips.map((i) => ({ ip: i.ip, pool: i.pool })),
    deleting: e.deleting,
  };
}

/** Stable identity of a finding (settle tracking, de-duplication): what it is about, not its wording. */
export function findingKey(f: Finding): string {
  const pods = (f.pods ?? [])
    .map((p) => `${p.name}@${p.uid}`)
    .sort()
    .join(',');
  return [
    f.finding,
    f.pool ?? '',
    f.ip ?? '',
    f.record ? `${f.record.pod}@${f.record.podUid}` : '',
    f.endpoint ? `${f.endpoint.name}@${f.endpoint.objectUid}/${f.endpoint.podUid}` : '',
    pods,
    f.finding === 'RESERVED_IP_IN_USE' ? f.reservedIP : '',
  ].join('|');
}
