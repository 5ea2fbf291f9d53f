// The repository documents itself (docs/): every rule, finding and action name the code defines is explained in
// docs/rules.md and the doc names nothing the code does not define; every docs section a comment cites exists.
// Names come from the code's own tables (RULES, FINDINGS, ACTIONS, REASONS, COUNT_MISMATCH), never from a list here.
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { RULES, COUNT_MISMATCH } from '../../../webhook/guard/rule-names';
import { FINDINGS } from '../../../webhook/reconciler/finding-types';
import { ACTIONS, REASONS } from '../../../webhook/reconciler/actions';

const ROOT = join(__dirname, '..', '..', '..');
const DOCS = join(ROOT, 'docs');

interface Section {
  level: number;
  title: string;
  body: string[];
}

/** Markdown headings and the lines under each, up to the next heading of the same or a higher level. */
function sections(markdown: string): Section[] {
  const lines = markdown.split('\n');
  const out: Section[] = [];
  let fence = false;
  const heads: { level: number; title: string; line: number }[] = [];
  lines.forEach((l, i) => {
    if (l.startsWith('```')) fence = !fence;
    const m = !fence && /^(#{1,6})\s+(.+?)\s*$/.exec(l);
    if (m) heads.push({ level: m[1].length, title: m[2], line: i });
  });
  heads.forEach((h, k) => {
    const end = heads.slice(k + 1).find((n) => n.level <= h.level)?.line ?? lines.length;
    out.push({ level: h.level, title: h.title, body: lines.slice(h.line + 1, end) });
  });
  return out;
}

function section(doc: Section[], title: string): Section {
  const s = doc.find((x) => x.title === title);
  if (!s) throw new Error(`docs/rules.md has no section "${title}"`);
  return s;
}

const NAME = /^`([A-Z][A-Z0-9_]+)`$/;

/** The backticked CAPITALISED names in column `col` of the section's table rows (header and rule rows skipped). */
function tableNames(s: Section, col: number): string[] {
  const out: string[] = [];
  for (const line of s.body) {
    if (!line.startsWith('|')) continue;
    const cells = line
      .split(/(?<!\\)\|/)
      .slice(1, -1)
      .map((c) => c.trim());
    // One cell may name several (`RELEASE_IP` / `DELETE_ENDPOINT`).
    for (const part of (cells[col] ?? '').split(/\s*[/,]\s*/)) {
      const m = NAME.exec(part);
      if (m) out.push(m[1]);
    }
  }
  return out;
}

/** The backticked CAPITALISED names in the section's sub-headings (each name explained with its example). */
function headingNames(s: Section, doc: Section[]): string[] {
  const start = doc.indexOf(s);
  const out: string[] = [];
  for (const sub of doc.slice(start + 1)) {
    if (sub.level <= s.level) break;
    for (const m of sub.title.matchAll(/`([A-Z][A-Z0-9_]+)`/g)) out.push(m[1]);
  }
  return out;
}

function sorted(names: Iterable<string>): string[] {
  return [...new Set(names)].sort();
}

describe('docs/rules.md names exactly what the code defines', () => {
  const doc = sections(readFileSync(join(DOCS, 'rules.md'), 'utf8'));

  it('rules: the pool status and SpiderEndpoint rule tables list RULES, and each rule has its own example', () => {
    const tables = [
      ...tableNames(section(doc, 'Pool status rules'), 0),
      ...tableNames(section(doc, 'SpiderEndpoint rules'), 0),
    ];
    expect(sorted(tables)).toEqual(sorted(RULES));
    expect(tables).toHaveLength(RULES.length);
    const explained = [
      ...headingNames(section(doc, 'Pool status rules'), doc),
      ...headingNames(section(doc, 'SpiderEndpoint rules'), doc),
    ];
    expect(sorted(explained)).toEqual(sorted(RULES));
  });

  it("repairs: the mutating webhook's count fix is named as the code names it", () => {
    const repairs = section(doc, 'Repairs');
    expect(sorted(tableNames(repairs, 0))).toEqual(expect.arrayContaining([COUNT_MISMATCH]));
    for (const n of tableNames(repairs, 0)) expect([...RULES, COUNT_MISMATCH]).toContain(n);
  });

  it('findings: the findings table lists FINDINGS, and each finding has its own example', () => {
    const findings = section(doc, 'Findings');
    const table = tableNames(findings, 0);
    expect(sorted(table)).toEqual(sorted(FINDINGS));
    expect(sorted(headingNames(findings, doc))).toEqual(sorted(FINDINGS));
  });

  it('actions: the actions table lists ACTIONS and REASONS, and each reason has its own example', () => {
    const actions = section(doc, 'Reconciler actions');
    expect(sorted(tableNames(actions, 0))).toEqual(sorted(ACTIONS));
    expect(sorted(tableNames(actions, 1))).toEqual(sorted(REASONS));
    const headed = headingNames(actions, doc);
    expect(sorted(headed.filter((n) => (REASONS as readonly string[]).includes(n)))).toEqual(sorted(REASONS));
    expect(sorted(headed.filter((n) => !(REASONS as readonly string[]).includes(n)))).toEqual(sorted(ACTIONS));
  });
});

/** Files under dir (recursively) with one of the extensions. */
function filesUnder(dir: string, exts: string[]): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) out.push(...filesUnder(path, exts));
    else if (exts.some((e) => entry.endsWith(e))) out.push(path);
  }
  return out;
}

/** Source text with comment markers removed and lines joined, so a citation broken over two lines reads as one. */
function flatten(text: string): string {
  return text
    .split('\n')
    .map((l) => l.replace(/^\s*(\/\/+|\/\*\*?|\*\/|\*|#|\{\{-?\s*\/\*)\s?/, '').trim())
    .join(' ')
    .replace(/\s+/g, ' ');
}

interface Citation {
  file: string;
  doc: string;
  /** the text after "docs/<file>.md, ": it begins with the section's heading */
  rest: string;
}

function citations(): Citation[] {
  const out: Citation[] = [];
  const roots = ['webhook', 'certs', 'lib', 'charts'].map((d) => join(ROOT, d));
  for (const file of roots.flatMap((r) => filesUnder(r, ['.ts', '.md', '.yaml', '.tpl', '.txt']))) {
    const text = flatten(readFileSync(file, 'utf8'));
    for (const m of text.matchAll(/docs\/([a-z-]+\.md), ([^]{0,120})/g))
      out.push({ file: relative(ROOT, file), doc: m[1], rest: m[2] });
  }
  return out;
}

describe('docs sections cited in comments exist', () => {
  const found = citations();
  const headings = new Map<string, string[]>();
  const headingsOf = (doc: string): string[] => {
    let h = headings.get(doc);
    if (!h) {
      let text: string;
      try {
        text = readFileSync(join(DOCS, doc), 'utf8');
      } catch {
        text = ''; // a cited file that does not exist has no headings: every citation of it fails
      }
      h = sections(text).map((s) => s.title.replace(/`/g, ''));
      headings.set(doc, h);
    }
    return h;
  };

  it('the code cites docs sections (the test would otherwise check nothing)', () => {
    expect(found.length).toBeGreaterThan(20);
    expect(sorted(found.map((c) => c.doc))).toEqual(['architecture.md', 'operations.md', 'rules.md']);
  });

  it.each(['rules.md', 'operations.md', 'architecture.md'])(
    'every citation of docs/%s names one of its headings',
    (doc) => {
      const unresolved = found
        .filter((c) => c.doc === doc)
        .filter((c) => !headingsOf(doc).some((h) => c.rest.startsWith(h) && !/^[\w']/.test(c.rest.slice(h.length))))
        .map((c) => `${c.file}: docs/${c.doc}, ${c.rest.slice(0, 40)}…`);
      expect(unresolved).toEqual([]);
    },
  );
});

/** GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens. */
function anchorOf(heading: string): string {
  return heading
    .toLowerCase()
    .replace(/`/g, '')
    .replace(/[^\p{L}\p{N} _-]/gu, '')
    .replace(/ /g, '-');
}

describe('links into docs/ resolve', () => {
  const anchors = (file: string): Set<string> =>
    new Set(sections(readFileSync(file, 'utf8')).map((s) => anchorOf(s.title)));
  const readers = [join(ROOT, 'README.md'), ...filesUnder(DOCS, ['.md'])];

  it.each(readers.map((f) => [relative(ROOT, f), f]))(
    '%s: every link to a docs file and anchor names an existing heading',
    (_name, file) => {
      const text = readFileSync(file, 'utf8');
      const broken: string[] = [];
      for (const m of text.matchAll(/\]\(((?:docs\/)?[a-z-]+\.md)?(?:#([^)\s]+))?\)/g)) {
        const [link, target, anchor] = m;
        if (!target && !anchor) continue;
        const path = target ? join(dirname(file), target) : file; // relative to the linking file, as GitHub reads it
        let known: Set<string>;
        try {
          known = anchors(path);
        } catch {
          broken.push(`${link}: no such file`);
          continue;
        }
        if (anchor && !known.has(anchor)) broken.push(`${link}: no heading with that anchor`);
      }
      expect(broken).toEqual([]);
    },
  );
});

describe('links into docs/ from code, tests, the test bed and the benchmarks resolve', () => {
  const anchors = (file: string): Set<string> =>
    new Set(sections(readFileSync(file, 'utf8')).map((s) => anchorOf(s.title)));
  const sources = ['webhook', 'certs', 'lib', 'test', 'testbed', 'bench'].flatMap((d) =>
    filesUnder(join(ROOT, d), ['.ts']),
  );

  it('the tests link their docs sections (docs/<file>.md#anchor), and every such link names an existing heading', () => {
    const links = sources.flatMap((file) =>
      [...readFileSync(file, 'utf8').matchAll(/docs\/([a-z-]+\.md)#([\w-]+)/g)].map((m) => ({
        file,
        doc: m[1],
        anchor: m[2],
      })),
    );
    expect(links.filter((l) => relative(ROOT, l.file).startsWith('test')).length).toBeGreaterThan(20);
    const broken = links
      .filter((l) => {
        try {
          return !anchors(join(DOCS, l.doc)).has(l.anchor);
        } catch {
          return true;
        }
      })
      .map((l) => `${relative(ROOT, l.file)}: docs/${l.doc}#${l.anchor}`);
    expect(broken).toEqual([]);
  });

  it('nothing cites the team-private reference (the repository documents itself)', () => {
    // spelled in pieces so that this file does not match itself
    const privateRef = new RegExp(
      [
        ['con', 'tract §'],
        ['\\bfacts', ' §'],
        ['/sha', 'red/'],
      ]
        .map((p) => p.join(''))
        .join('|'),
    );
    const cites = sources.filter((file) => privateRef.test(readFileSync(file, 'utf8'))).map((f) => relative(ROOT, f));
    expect(cites).toEqual([]);
  });
});
