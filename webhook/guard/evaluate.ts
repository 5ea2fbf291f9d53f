// guard.evaluate: facts in, violations out. No I/O, no clock, no logging; the server, `review`, the reconciler's
// self-check and the tests all call this.
import { StaticIpConfig, ClusterView } from '../model';
import {
  endpointIpConflictViolations,
  endpointUidRewriteViolations,
  liveEndpointDeleteViolations,
} from './endpoint-rules';
import {
  PoolUpdate,
  TerminationJudge,
  allocationViolations,
  malformedViolations,
  readPoolUpdate,
  releaseViolations,
  staleRewriteViolations,
} from './pool-rules';
import { GuardRequest, GuardTarget, targetOf } from './request';
import { RuleName, Violation } from './rule-names';
import { DEFAULT_LIMITS, EvaluationLimits, ViolationCollector } from './collector';
import { UserMatcher } from './users';

/** How terminating pods are judged (docs/rules.md, Terms, "termination confirmed"). */
export interface TerminationSettings {
  /** --termination-hold-max in milliseconds: past it a deletion counts as confirmed; undefined = no limit */
  holdMaxMs?: number;
  /** the clock (epoch ms), read once per evaluation: the guard itself reads no clock */
  now: () => number;
}

export interface GuardSettings {
  staticIp: StaticIpConfig;
  guardedUsers: UserMatcher;
  /** absent: no hold max, and no clock (messages say nothing of how long a pod has been terminating) */
  termination?: TerminationSettings;
}

/** The time and the hold max one evaluation judges terminations with. */
export function terminationJudge(settings: GuardSettings): TerminationJudge {
  const t = settings.termination;
  return t ? { now: t.now(), holdMaxMs: t.holdMaxMs } : { now: NaN };
}

export interface Evaluation {
  target: GuardTarget | undefined;
  /** whether the release-side rules applied to this writer */
  guarded: boolean;
  /** at most `limits.maxPerRule` per rule */
  violations: Violation[];
  /** per rule: violations found beyond the limit (not in `violations`) */
  omitted: ReadonlyMap<RuleName, number>;
  /** looking stopped once a decisive rule reached its limit: `omitted` counts are lower bounds */
  stoppedEarly: boolean;
  /** set for pool status updates: the parsed old/new records (the mutating path builds its patch from it) */
  poolUpdate?: PoolUpdate;
}

export function evaluate(
  req: GuardRequest,
  view: ClusterView,
  settings: GuardSettings,
  limits: EvaluationLimits = DEFAULT_LIMITS,
): Evaluation {
  const target = targetOf(req);
  const guarded = settings.guardedUsers.matches(req.user);
  const cfg = settings.staticIp;
  const out = new ViolationCollector(limits);
  const result = () => ({ target, guarded, violations: out.violations, omitted: out.omitted, stoppedEarly: out.done });
  if (target === 'poolStatus') {
    const u = readPoolUpdate(req.object, req.oldObject);
    malformedViolations(u, out);
    if (guarded) releaseViolations(u, view, cfg, out, terminationJudge(settings));
    staleRewriteViolations(u, view, cfg, out);
    allocationViolations(u, view, cfg, out);
    return { ...result(), poolUpdate: u };
  }
  if (target === 'endpoint') {
    if (guarded) out.addAll(liveEndpointDeleteViolations(req, view, cfg));
    out.addAll(endpointUidRewriteViolations(req, view, cfg));
    out.addAll(endpointIpConflictViolations(req, view, cfg));
  }
  return result();
}
