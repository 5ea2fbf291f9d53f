// guard.evaluate: facts in, violations out. No I/O, no clock, no logging; the server, `review`, the reconciler's
// self-check and the tests all call this.
import { StaticIpConfig, ClusterView } from '../model';
import { endpointIpConflictViolations, endpointUidRewriteViolations, liveEndpointDeleteViolations } from './endpoint-rules';
import {
  PoolUpdate,
  allocationViolations,
  malformedViolations,
  readPoolUpdate,
  releaseViolations,
  staleRewriteViolations,
} from './pool-rules';
import { GuardRequest, GuardTarget, targetOf } from './request';
import { Violation } from './rules';
import { UserMatcher } from './users';

export interface GuardSettings {
  staticIp: StaticIpConfig;
  guardedUsers: UserMatcher;
}

export interface Evaluation {
  target: GuardTarget | undefined;
  /** whether the release-side rules applied to this writer */
  guarded: boolean;
  violations: Violation[];
  /** set for pool status updates: the parsed old/new records (the mutating path builds its patch from it) */
  poolUpdate?: PoolUpdate;
}

export function evaluate(req: GuardRequest, view: ClusterView, settings: GuardSettings): Evaluation {
  const target = targetOf(req);
  const guarded = settings.guardedUsers.matches(req.user);
  const cfg = settings.staticIp;
  if (target === 'poolStatus') {
    const u = readPoolUpdate(req.object, req.oldObject);
    const violations = [
      ...malformedViolations(u),
      ...(guarded ? releaseViolations(u, view, cfg) : []),
      ...staleRewriteViolations(u, view, cfg),
      ...allocationViolations(u, view, cfg),
    ];
    return { target, guarded, violations, poolUpdate: u };
  }
  if (target === 'endpoint') {
    const violations = [
      ...(guarded ? liveEndpointDeleteViolations(req, view, cfg) : []),
      ...endpointUidRewriteViolations(req, view, cfg),
      ...endpointIpConflictViolations(req, view, cfg),
    ];
    return { target, guarded, violations };
  }
  return { target, guarded, violations: [] };
}
