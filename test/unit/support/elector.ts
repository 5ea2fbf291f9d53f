// A LeaderElector on the fake Lease client with short timings (lease 2 s, renew deadline 1.5 s, retry 0.5 s),
// recording `<identity>:start` / `<identity>:stop` in `events`.
import { LeaderElector, LeaderElectorOptions } from '../../../webhook/reconciler/leader';
import { FakeLeases, ManualClock } from './fake-cluster';

export function elector(
  leases: FakeLeases,
  clock: ManualClock,
  identity: string,
  events: string[],
  extra: Partial<LeaderElectorOptions> = {},
) {
  return new LeaderElector({
    client: leases,
    namespace: 'kube-system',
    identity,
    leaseDurationMs: 2000,
    renewDeadlineMs: 1500,
    retryPeriodMs: 500,
    clock,
    onStartedLeading: () => events.push(`${identity}:start`),
    onStoppedLeading: () => events.push(`${identity}:stop`),
    ...extra,
  });
}
