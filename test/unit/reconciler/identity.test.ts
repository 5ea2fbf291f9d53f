import { processIdentity } from '../../../webhook/reconciler/start';
import { FakeLeases, ManualClock } from '../support/fake-cluster';
import { elector } from '../support/elector';

const candidate = (leases: FakeLeases, clock: ManualClock, identity: string) => elector(leases, clock, identity, []);

describe('the Lease identity is per process (<pod>_<uuid>)', () => {
  it('names the pod and differs for every process of it', () => {
    const a = processIdentity('guard-7d9f-abcde');
    const b = processIdentity('guard-7d9f-abcde');
    expect(a).toMatch(/^guard-7d9f-abcde_[0-9a-f-]{36}$/);
    expect(b).not.toBe(a);
  });

  it('a process restarted in the same pod after kill -9 waits a full lease duration, so the other replica can take over', async () => {
    const leases = new FakeLeases();
    const clock = new ManualClock(0);
    const killed = candidate(leases, clock, processIdentity('guard-a'));
    const other = candidate(leases, clock, processIdentity('guard-b'));
    expect(await killed.tryAcquireOrRenew()).toBe(true);
    clock.t = 100;
    expect(await other.tryAcquireOrRenew()).toBe(false); // the other replica observes the record at t=100
    // kill -9 at t=200: no release; the container restarts at once with a new process and a new identity
    clock.t = 300;
    const restarted = candidate(leases, clock, processIdentity('guard-a'));
    expect(await restarted.tryAcquireOrRenew()).toBe(false); // not its lease: it observes the record at t=300
    clock.t = 2100;
    expect(await other.tryAcquireOrRenew()).toBe(true); // expired by the other replica's clock first
    clock.t = 2300;
    expect(await restarted.tryAcquireOrRenew()).toBe(false);
    expect(restarted.holder()).toBe(other.identity);
  });
});
