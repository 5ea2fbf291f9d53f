// Argument parsing shared by the commands: node:util parseArgs, with every mistake turned into a UsageError (exit 2).
import { ParseArgsConfig, parseArgs } from 'node:util';
import { Policy, buildPolicy, parseMode, DEFAULT_GUARDED_USERS, UserMatcher, splitGlobList } from '../guard';
import { UsageError } from './errors';
import { StaticIpConfig } from '../model';

export type Options = NonNullable<ParseArgsConfig['options']>;

export type Values = Record<string, string | boolean | (string | boolean)[] | undefined>;

export function parse(argv: string[], options: Options, command: string): { values: Values; positionals: string[] } {
  try {
    const parsed = parseArgs({ args: argv, options: { help: { type: 'boolean', short: 'h' }, ...options }, allowPositionals: true, strict: true });
    return { values: parsed.values as Values, positionals: parsed.positionals };
  } catch (err) {
    throw new UsageError(`${command}: ${(err as Error).message}`);
  }
}

/** Flags every deciding command shares: modes, users, static-IP switches. */
export const POLICY_OPTIONS: Options = {
  mode: { type: 'string' },
  'rule-mode': { type: 'string', multiple: true },
  'guarded-users': { type: 'string' },
  'exempt-users': { type: 'string' },
  'statefulset-static-ip': { type: 'string' },
  'kubevirt-static-ip': { type: 'string' },
};

function bool(values: Values, name: string, fallback: boolean): boolean {
  const v = values[name];
  if (v === undefined) return fallback;
  if (v === 'true' || v === true) return true;
  if (v === 'false') return false;
  throw new UsageError(`--${name} ${JSON.stringify(v)}: expected true or false`);
}

export function policyFromFlags(values: Values): { policy: Policy; guarded: UserMatcher; staticIp: StaticIpConfig } {
  const mode = parseMode(typeof values.mode === 'string' ? values.mode : 'enforce');
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
