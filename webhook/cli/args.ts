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
  { name: 'statefulset-static-ip', type: 'string', arg: 'true|false', default: true, help: "Spiderpool's StatefulSet static-IP switch" },
  { name: 'kubevirt-static-ip', type: 'string', arg: 'true|false', default: true, help: "Spiderpool's KubeVirt static-IP switch" },
];

/** Flags every deciding command shares: modes, users, static-IP switches. */
export const POLICY_FLAGS: FlagTable = [
  { name: 'mode', type: 'string', arg: 'enforce|warn|audit|repair', default: DEFAULT_MODE, help: 'default mode of every rule' },
  { name: 'rule-mode', type: 'list', arg: 'RULE=MODE', help: 'mode of one rule' },
  { name: 'guarded-users', type: 'string', arg: 'GLOBS', default: DEFAULT_GUARDED_USERS.join(','), help: 'writers the release rules judge' },
  { name: 'exempt-users', type: 'string', arg: 'GLOBS', help: 'writers never denied (still audited)' },
  ...STATIC_IP_FLAGS,
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
  const exempt = new UserMatcher(typeof values['exempt-users'] === 'string' ? splitGlobList(values['exempt-users']) : []);
  return {
    policy: buildPolicy(mode, ruleModes, exempt),
    guarded,
    staticIp: { statefulSet: bool(values, 'statefulset-static-ip', true), kubevirt: bool(values, 'kubevirt-static-ip', true) },
  };
}

export function intFlag(values: Values, name: string, fallback: number, min = 0): number {
  const v = values[name];
  if (v === undefined) return fallback;
  const n = Number(v);
  if (typeof v !== 'string' || !Number.isInteger(n) || n < min) throw new UsageError(`--${name} ${JSON.stringify(v)}: expected an integer >= ${min}`);
  return n;
}

/** A duration flag in seconds (fractions allowed), > 0; returned in milliseconds. */
export function secondsFlag(values: Values, name: string, fallbackMs: number): number {
  const v = values[name];
  if (v === undefined) return fallbackMs;
  const n = Number(v);
  if (typeof v !== 'string' || v.trim() === '' || !Number.isFinite(n) || n <= 0) throw new UsageError(`--${name} ${JSON.stringify(v)}: expected seconds > 0`);
  return Math.round(n * 1000);
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
