// The writes the reconciler plans, by name: what each one touches and why.
import { LivePodSummary } from '../guard';
import { PoolRecord } from '../model';
import { EndpointSummary } from './finding-types';
import { About } from './subjects';

export const ACTIONS = ['RELEASE_IP', 'DELETE_ENDPOINT', 'RESTORE_RECORD', 'FIX_COUNT'] as const;
export type ActionName = (typeof ACTIONS)[number];
export const REASONS = [
  'COMPLETED_POD',
  'POD_GONE',
  'STATIC_LEFT_IPAM',
  'INVALID_STATIC_MEMBER',
  'UID_MISMATCH',
  'MISSING_RECORD',
  'UNRECORDED_LIVE_IP',
  'COUNT_MISMATCH',
] as const;
export type ActionReason = (typeof REASONS)[number];
/** Why a record or an endpoint outlived its pod. */
export type ReleaseReason =
  'COMPLETED_POD' | 'POD_GONE' | 'STATIC_LEFT_IPAM' | 'INVALID_STATIC_MEMBER' | 'UID_MISMATCH';
/** An endpoint goes for the same reasons (UID_MISMATCH: it blocks the pod now named so, BLOCKING_ENDPOINT). */
export type EndpointReason = ReleaseReason;

interface ActionBase {
  message: string;
}

export interface ReleaseIpAction extends ActionBase, About<'pool' | 'ip' | 'record' | 'pods'> {
  action: 'RELEASE_IP';
  reason: ReleaseReason;
  pool: string;
  ip: string;
  /** the record removed (only while the key still holds this podUid) */
  record: PoolRecord;
  /** the pods of that name, as judged */
  pods?: LivePodSummary[];
}
/**
 * MISSING_RECORD: the pod's endpoint lists the IP in the pool. UNRECORDED_LIVE_IP: no endpoint needed; the IP belongs
 * to exactly this pool and exactly one alive pod observes it.
 */
export type RestoreReason = 'MISSING_RECORD' | 'UNRECORDED_LIVE_IP';
export interface RestoreRecordAction extends ActionBase, About<'pool' | 'ip' | 'record' | 'pods' | 'endpoint'> {
  action: 'RESTORE_RECORD';
  reason: RestoreReason;
  pool: string;
  ip: string;
  /** the record added */
  record: PoolRecord;
  /** the alive pod that holds the IP */
  pods: LivePodSummary[];
  /** the endpoint listing the IP (MISSING_RECORD only) */
  endpoint?: EndpointSummary;
}
export interface FixCountAction extends ActionBase, About<'pool' | 'allocatedIPCount' | 'records'> {
  action: 'FIX_COUNT';
  reason: 'COUNT_MISMATCH';
  pool: string;
  /** the count found and the number of records */
  allocatedIPCount: number | null;
  records: number;
}
export interface DeleteEndpointAction extends ActionBase, About<'endpoint' | 'pods'> {
  action: 'DELETE_ENDPOINT';
  reason: EndpointReason;
  endpoint: EndpointSummary;
  pods?: LivePodSummary[];
}

/** The writes of one pool's status. */
export type PoolAction = ReleaseIpAction | RestoreRecordAction | FixCountAction;
export type Action = PoolAction | DeleteEndpointAction;

/** Stable identity of an action (settle tracking): the decision and the exact objects/uids it is about. */
export function actionKey(a: Action): string {
  return [
    a.action,
    a.pool ?? '',
    a.ip ?? '',
    a.record ? `${a.record.pod}@${a.record.podUid}` : '',
    a.endpoint ? `${a.endpoint.name}@${a.endpoint.objectUid}/${a.endpoint.podUid}` : '',
    a.action === 'FIX_COUNT' ? `${a.allocatedIPCount ?? 'unset'}->${a.records}` : '',
  ].join('|');
}
