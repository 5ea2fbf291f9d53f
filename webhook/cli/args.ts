// Argument parsing shared by the commands: node:util parseArgs, with every mistake turned into a UsageError (exit 2).
import { parseArgs } from 'node:util';
import { Policy, buildPolicy, parseMode, DEFAULT_GUARDED_USERS, UserMatcher, splitGlobList } from '../guard';
import { UsageError } from './errors';
import { StaticIpConfig } from '../model';
import { FlagTable, optionsOf } from './flags';

export type Values = Record<string, string | boolean | (string | boolean)[] | undefined>;

export function parse(argv: string[], table: FlagTable, command: string): { values: Values; positionals: string[] } {
  try {
    const options = { help: { type: 'boolean' as const, short: 'h' }, ...optionsOf(table) };
    const parsed = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
    return { values: parsed.values as Values, positionals: parsed.positionals };
  } catch (err) {
    throw new UsageError(`${command}: ${(err as Error).message}`);
  }
}

export const DEFAULT_MODE = 'enforce';

/** Spiderpool's static-IP switches, shared by every command that judges. */
export const STATIC_IP_FLAGS: FlagTable = [
  {
    name: 'statefulset-static-ip',
    type: 'string',
    arg: 'true|false',
    default: true,
    help: "Spiderpool's StatefulSet static-IP switch",
  },
  {
    name: 'kubevirt-static-ip',
    type: 'string',
    arg: 'true|false',
    default: true,
    help: "Spiderpool's KubeVirt static-IP switch",
  },
];

/** How long a pod's unconfirmed termination may hold its IPs (serve, review, check, reconcile). */
export const TERMINATION_FLAGS: FlagTable = [
  {
    name: 'termination-hold-max',
    type: 'string',
    arg: 'DURATION',
    help: 'a terminating pod whose node never confirmed it stopped keeps its IPs at most this long after its deletionTimestamp (e.g. 90s, 30m, 1h; default: no limit, until the node confirms, is deleted or is tainted node.kubernetes.io/out-of-service)',
  },
];

/** Flags every deciding command shares: modes, users, static-IP switches, the termination hold. */
export const POLICY_FLAGS: FlagTable = [
  {
    name: 'mode',
    type: 'string',
    arg: 'enforce|warn|audit|repair',
    default: DEFAULT_MODE,
    help: 'default mode of every rule',
  },
  { name: 'rule-mode', type: 'list', arg: 'RULE=MODE', help: 'mode of one rule' },
  {
    name: 'guarded-users',
    type: 'string',
    arg: 'GLOBS',
    default: DEFAULT_GUARDED_USERS.join(','),
    help: 'writers the release rules judge',
  },
  { name: 'exempt-users', type: 'string', arg: 'GLOBS', help: 'writers never denied (still audited)' },
  ...STATIC_IP_FLAGS,
  ...TERMINATION_FLAGS,
];

function bool(values: Values, name: string, fallback: boolean): boolean {
  const v = values[name];
  if (v === undefined) return fallback;
  if (v === 'true' || v === true) return true;
  if (v === 'false') return false;
  throw new UsageError(`--${name} ${JSON.stringify(v)}: expected true or false`);
}

export function policyFromFlags(values: Values): { policy: Policy; guarded: UserMatcher; staticIp: StaticIpConfig } {
  const mode = parseMode(typeof values.mode === 'string' ? values.mode : DEFAULT_MODE);
  const ruleModes = (values['rule-mode'] as string[] | undefined) ?? [];
  const guarded = new UserMatcher(
    typeof values['guarded-users'] === 'string' ? splitGlobList(values['guarded-users']) : DEFAULT_GUARDED_USERS,
  );
  const exempt = new UserMatcher(
    typeof values['exempt-users'] === 'string' ? splitGlobList(values['exempt-users']) : [],
  );
  return {
    policy: buildPolicy(mode, ruleModes, exempt),
    guarded,
    staticIp: {
      statefulSet: bool(values, 'statefulset-static-ip', true),
      kubevirt: bool(values, 'kubevirt-static-ip', true),
    },
  };
}

export function intFlag(values: Values, name: string, fallback: number, min = 0): number {
  const v = values[name];
  if (v === undefined) return fallback;
  const n = Number(v);
  if (typeof v !== 'string' || !Number.isInteger(n) || n < min)
    throw new UsageError(`--${name} ${JSON.stringify(v)}: expected an integer >= ${min}`);
  return n;
}

/** A duration flag in seconds (fractions allowed), > 0; returned in milliseconds. */
export function secondsFlag(values: Values, name: string, fallbackMs: number): number {
  const v = values[name];
  if (v === undefined) return fallbackMs;
  const n = Number(v);
  if (typeof v !== 'string' || v.trim() === '' || !Number.isFinite(n) || n <= 0)
    throw new UsageError(`--${name} ${JSON.stringify(v)}: expected seconds > 0`);
  return Math.round(n * 1000);
}

const DURATION_UNITS_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * A duration as Go and kubectl write them: one or more number+unit parts (ms, s, m, h), e.g. 90s, 30m, 1h30m;
 * returned in milliseconds, > 0. Undefined when the flag is not given.
 */
export function durationFlag(values: Values, name: string): number | undefined {
  const v = values[name];
  if (v === undefined) return undefined;
  const text = typeof v === 'string' ? v.trim() : '';
  const part = /(\d+(?:\.\d+)?)(ms|h|m|s)/y;
  let total = 0;
  let at = 0;
  while (text !== '' && at < text.length) {
    part.lastIndex = at;
    const m = part.exec(text);
    if (!m) break;
    total += Number(m[1]) * DURATION_UNITS_MS[m[2]];
    at = part.lastIndex;
  }
  if (text === '' || at !== text.length || !(total > 0) || !Number.isFinite(total)) {
    throw new UsageError(`--${name} ${JSON.stringify(v)}: expected a duration > 0 such as 90s, 30m or 1h`);
  }
  return Math.round(total);
}

/** The termination hold's settings from --termination-hold-max, with the real clock (the CLI is the shell). */
export function terminationFromFlags(values: Values): { holdMaxMs?: number; now: () => number } {
  return { holdMaxMs: durationFlag(values, 'termination-hold-max'), now: Date.now };
}

export function listFlag(values: Values, name: string): string[] {
  const v = values[name];
  return typeof v === 'string' ? splitGlobList(v) : [];
}

export function oneOf<T extends string>(values: Values, name: string, allowed: readonly T[], fallback: T): T {
  const v = values[name];
  if (v === undefined) return fallback;
  if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v)) {
    throw new UsageError(`--${name} ${JSON.stringify(v)}: expected one of ${allowed.join('|')}`);
  }
  return v as T;
}
