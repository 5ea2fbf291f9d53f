// Prometheus metrics of the admission path. One registry per process, served on the metrics port.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface AdmissionMetrics {
  registry: Registry;
  decisions: Counter<'webhook' | 'rule' | 'mode' | 'outcome'>;
  requests: Counter<'webhook' | 'result'>;
  latency: Histogram<'webhook'>;
  errors: Counter<'webhook' | 'cause'>;
  freshReads: Counter<'result'>;
  /** Kubernetes Events about decisions, by reason (rule) and result (created, aggregated, dropped, failed) */
  events: Counter<'reason' | 'result'>;
  throttled: Counter<'webhook'>;
  inflightBytes: Gauge;
  /** requests waiting for the in-flight budget, their bodies unread */
  budgetWaiting: Gauge;
  /** waits for the in-flight budget, by how they ended (admitted, timeout, full) */
  budgetWaits: Counter<'outcome'>;
  budgetWaitSeconds: Histogram;
  /** releases of a terminating pod's record kept because no one confirmed its termination, by outcome */
  heldReleases: Counter<'outcome'>;
}

export function createAdmissionMetrics(registry = new Registry(), withDefaults = true): AdmissionMetrics {
  if (withDefaults) collectDefaultMetrics({ register: registry, prefix: 'spiderpool_guard_' });
  return {
    registry,
    decisions: new Counter({
      name: 'spiderpool_guard_decisions_total',
      help: 'Violations judged, by rule, mode and outcome (denied, warned, audited, repaired)',
      labelNames: ['webhook', 'rule', 'mode', 'outcome'],
      registers: [registry],
    }),
    requests: new Counter({
      name: 'spiderpool_guard_admission_requests_total',
      help: 'AdmissionReviews answered, by webhook and result (allowed, denied, patched, error, bad_request)',
      labelNames: ['webhook', 'result'],
      registers: [registry],
    }),
    latency: new Histogram({
      name: 'spiderpool_guard_decision_duration_seconds',
      help: 'Time from decoded AdmissionReview to response, including fresh reads',
      labelNames: ['webhook'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    }),
    errors: new Counter({
      name: 'spiderpool_guard_admission_errors_total',
      help: 'Requests answered fail-open or fail-closed without a decision, by cause (internal, unsynced, stale-cache, deadline)',
      labelNames: ['webhook', 'cause'],
      registers: [registry],
    }),
    freshReads: new Counter({
      name: 'spiderpool_guard_fresh_reads_total',
      help: 'Live API reads made before a denial or on a cache miss, by result (confirmed, overturned, failed)',
      labelNames: ['result'],
      registers: [registry],
    }),
    events: new Counter({
      name: 'spiderpool_guard_events_total',
      help: 'Kubernetes Events on protected pods (or pools) about decisions, by reason (the rule) and result (created, aggregated, dropped, failed)',
      labelNames: ['reason', 'result'],
      registers: [registry],
    }),
    throttled: new Counter({
      name: 'spiderpool_guard_admission_throttled_total',
      help: 'AdmissionReviews answered HTTP 429 because the in-flight request bytes were over the budget',
      labelNames: ['webhook'],
      registers: [registry],
    }),
    inflightBytes: new Gauge({
      name: 'spiderpool_guard_admission_inflight_bytes',
      help: 'Bytes of AdmissionReview request bodies in flight (read or being decided)',
      registers: [registry],
    }),
    budgetWaiting: new Gauge({
      name: 'spiderpool_guard_admission_budget_waiting',
      help: 'AdmissionReviews waiting, their bodies unread, for room in the in-flight byte budget',
      registers: [registry],
    }),
    budgetWaits: new Counter({
      name: 'spiderpool_guard_admission_budget_waits_total',
      help: 'Waits for room in the in-flight byte budget, by outcome (admitted; timeout and full are answered 429)',
      labelNames: ['outcome'],
      registers: [registry],
    }),
    budgetWaitSeconds: new Histogram({
      name: 'spiderpool_guard_admission_budget_wait_seconds',
      help: 'Time an AdmissionReview waited for room in the in-flight byte budget before it was read or refused',
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5],
      registers: [registry],
    }),
    heldReleases: heldReleasesCounter(registry),
  };
}

/** Outcomes that keep the record: the release was denied, or repaired away by the mutating webhook. */
export const HOLDING_OUTCOMES = ['denied', 'repaired'] as const;

function heldReleasesCounter(registry: Registry): Counter<'outcome'> {
  const c = new Counter({
    name: 'spiderpool_guard_held_releases_total',
    help: "Releases of a terminating pod's IP record held because its node has not confirmed the pod stopped (UNCONFIRMED_TERMINATION_RELEASE), by outcome (denied, repaired)",
    labelNames: ['outcome'],
    registers: [registry],
  });
  for (const outcome of HOLDING_OUTCOMES) c.inc({ outcome }, 0); // a series from the start: alerts see 0, not absence
  return c;
}
