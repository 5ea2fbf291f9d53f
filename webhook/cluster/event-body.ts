// A core/v1 Event from an EventSpec: a unique name derived from the involved object, the message capped at the
// API server's limit, and this component named as source and reporter.
import * as k8s from '@kubernetes/client-node';
import { randomBytes } from 'node:crypto';
import { EventSpec } from '../model';

export const EVENT_COMPONENT = 'spiderpool-guard';

/** The message capped at the API server's limit for Event messages. */
export function eventMessage(message: string): string {
  return message.length > 1000 ? `${message.slice(0, 997)}...` : message;
}

/** `count` > 1: the first write of an Event that already aggregates that many occurrences. */
export function eventBody(e: EventSpec, reportingInstance: string, now: Date, count = 1): k8s.CoreV1Event {
  const base = e.involvedObject.name
    .toLowerCase()
    .replace(/[^a-z0-9.-]/g, '-')
    .slice(0, 200);
  return {
    metadata: {
      name: `${base}.${now.getTime().toString(16)}${randomBytes(3).toString('hex')}`,
      namespace: e.namespace,
    },
    involvedObject: e.involvedObject,
    type: e.type,
    reason: e.reason,
    action: e.action,
    message: eventMessage(e.message),
    firstTimestamp: now,
    lastTimestamp: now,
    count,
    source: { component: EVENT_COMPONENT },
    reportingComponent: EVENT_COMPONENT,
    reportingInstance,
  };
}
