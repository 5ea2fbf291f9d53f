import { readFileSync } from 'node:fs';
import { COMMAND_FLAGS, OPERATIONS_DOC, renderFlagTables } from '../../docs-flags';
import { helpText, optionsOf } from '../../../webhook/cli/flags';
import { parse } from '../../../webhook/cli/args';
import { UsageError } from '../../../webhook/cli/errors';
import { SERVE_FLAGS, leaderTimingFromFlags } from '../../../webhook/cli/serve';

describe('flag tables', () => {
  it("docs/operations.md's flag lists are the ones generated from the tables (npm run -s docs:flags)", () => {
    const text = readFileSync(OPERATIONS_DOC, 'utf8');
    expect(renderFlagTables(text)).toBe(text);
  });

  it.each(Object.entries(COMMAND_FLAGS))('%s: every flag is parsed and has one line of --help', (_command, table) => {
    const names = table.map((f) => f.name);
    expect(new Set(names).size).toBe(names.length);
    expect(Object.keys(optionsOf(table)).sort()).toEqual([...names].sort());
    const help = helpText('x', 'y', table).split('\n');
    for (const f of table) {
      const flag = `  ${f.short ? `-${f.short}, ` : ''}--${f.name}`;
      expect(help.filter((l) => l.startsWith(`${flag} `) || l === flag)).toHaveLength(1);
    }
  });
});

describe('serve: leader election timings', () => {
  const timing = (...argv: string[]) => leaderTimingFromFlags(parse(argv, SERVE_FLAGS, 'serve').values);

  it('defaults to client-go / controller-runtime: 15 s lease, 10 s renew deadline, 2 s retry', () => {
    expect(timing()).toEqual({ leaseDurationMs: 15000, renewDeadlineMs: 10000, retryPeriodMs: 2000 });
  });

  it('takes seconds (fractions allowed)', () => {
    expect(
      timing(
        '--leader-election-lease-duration',
        '4',
        '--leader-election-renew-deadline',
        '3',
        '--leader-election-retry-period',
        '0.5',
      ),
    ).toEqual({
      leaseDurationMs: 4000,
      renewDeadlineMs: 3000,
      retryPeriodMs: 500,
    });
  });

  it('refuses a renew deadline not shorter than the lease, a retry period not shorter than the deadline, and non-positive values', () => {
    expect(() => timing('--leader-election-renew-deadline', '15')).toThrow(
      /renew deadline .* shorter than the lease duration/,
    );
    expect(() => timing('--leader-election-lease-duration', '8', '--leader-election-renew-deadline', '9')).toThrow(
      UsageError,
    );
    expect(() => timing('--leader-election-retry-period', '10')).toThrow(
      /retry period .* shorter than the renew deadline/,
    );
    expect(() => timing('--leader-election-retry-period', '0')).toThrow(/expected seconds > 0/);
    expect(() => timing('--leader-election-lease-duration', 'soon')).toThrow(/expected seconds > 0/);
  });
});
