import { readFileSync } from 'node:fs';
import { COMMAND_FLAGS, README, renderReadme } from '../readme-flags';
import { helpText, optionsOf } from '../../webhook/cli/flags';

describe('flag tables', () => {
  it("the README's flag lists are the ones generated from the tables (npm run -s readme:flags)", () => {
    const text = readFileSync(README, 'utf8');
    expect(renderReadme(text)).toBe(text);
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
