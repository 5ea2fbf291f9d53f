// The admission handler most tests build: a fixed view, caches synced, Spiderpool's default settings, every rule in
// one mode (enforce unless told), an in-memory audit sink and a silent logger. Overrides replace any of them.
import { AdmissionHandler, HandlerDeps } from '../../../webhook/admission/handler';
import { MemoryAuditSink } from '../../../webhook/audit/sink';
import { Mode, buildPolicy } from '../../../webhook/guard/policy';
import { UserMatcher } from '../../../webhook/guard/users';
import { createLogger } from '../../../webhook/log/logger';
import type { ClusterView } from '../../../webhook/model/cluster-view';
import { GUARD_SETTINGS } from '../../../testbed/fixtures';

export interface TestHandlerOptions extends Partial<HandlerDeps> {
  /** the mode of every rule (default enforce); ignored when `policy` is given */
  mode?: Mode;
}

/** `view` is the view, or a function read on every decision (for tests that swap the view between requests). */
export function testHandler(view: ClusterView | (() => ClusterView), o: TestHandlerOptions = {}): AdmissionHandler {
  const { mode, ...overrides } = o;
  return new AdmissionHandler({
    view: typeof view === 'function' ? view : () => view,
    synced: () => true,
    settings: GUARD_SETTINGS,
    policy: buildPolicy(mode ?? 'enforce', [], new UserMatcher([])),
    audit: new MemoryAuditSink(),
    log: createLogger('silent'),
    ...overrides,
  });
}
