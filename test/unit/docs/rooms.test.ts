// The room table (webhook/rooms.json) is the one source of the walls (eslint.config.mjs reads it) and of the picture:
// docs/architecture.md must draw exactly its edges, each edge must be an import the code makes, and the imports
// between files must form no circle.
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';

const ROOT = join(__dirname, '..', '..', '..');
const { rooms } = JSON.parse(readFileSync(join(ROOT, 'webhook', 'rooms.json'), 'utf8')) as {
  rooms: Record<string, { dir: string; imports: string[] }>;
};
const edges = (pairs: [string, string][]) => pairs.map(([a, b]) => `${a} --> ${b}`).sort();
const tableEdges = edges(
  Object.entries(rooms).flatMap(([room, r]) => r.imports.map((to): [string, string] => [room, to])),
);
const architecture = readFileSync(join(ROOT, 'docs', 'architecture.md'), 'utf8');
const roomsSection = architecture.slice(
  architecture.indexOf('## Rooms'),
  architecture.indexOf('\n## ', architecture.indexOf('## Rooms') + 1),
);

function sourceFiles(dir: string): string[] {
  return readdirSync(join(ROOT, dir)).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(join(ROOT, path)).isDirectory()) return sourceFiles(path);
    return name.endsWith('.ts') ? [path] : [];
  });
}

/** file → the files it imports (relative specifiers, resolved as TypeScript does for this repository). */
function importGraph(): Map<string, string[]> {
  const files = ['webhook', 'certs', 'lib'].flatMap(sourceFiles);
  const known = new Set(files);
  const graph = new Map<string, string[]>();
  for (const file of files) {
    const text = readFileSync(join(ROOT, file), 'utf8').replace(/^\s*(\/\/|\*).*$/gm, '');
    const specs = [...text.matchAll(/(?:\bfrom|\bimport)\s*\(?\s*'(\.{1,2}\/[^']*)'/g)].map((m) => m[1]);
    graph.set(
      file,
      specs.map((spec) => {
        const base = normalize(join(dirname(file), spec));
        const hit = [`${base}.ts`, join(base, 'index.ts')].find((f) => known.has(f));
        if (!hit) throw new Error(`${file}: cannot resolve ${spec}`);
        return hit;
      }),
    );
  }
  return graph;
}

function roomOf(file: string): string | undefined {
  return Object.entries(rooms).find(([, r]) => !relative(r.dir, file).startsWith('..'))?.[0];
}

describe('the room table, the walls and the picture', () => {
  test('docs/architecture.md draws exactly the edges of webhook/rooms.json', () => {
    const block = /```mermaid\n([\s\S]*?)```/.exec(roomsSection)?.[1] ?? '';
    const drawn = block
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l.includes('-->'))
      .sort();
    expect(drawn).toEqual(tableEdges);
  });

  test("the Rooms table's 'may import' column says what webhook/rooms.json says", () => {
    const rows = roomsSection.split('\n').filter((l) => l.startsWith('| `'));
    const columns = Object.fromEntries(
      rows.map((row) => {
        const cells = row.split('|').map((c) => c.trim());
        const room = /`(?:webhook\/)?([a-z]+)\/`/.exec(cells[1])?.[1] ?? '';
        const imports = [...cells[3].matchAll(/`([a-z]+)\/?`/g)].map((m) => m[1]).filter((r) => r !== 'lib');
        return [room, imports.sort()];
      }),
    );
    for (const [room, r] of Object.entries(rooms)) expect([room, columns[room]]).toEqual([room, [...r.imports].sort()]);
  });

  test('every edge of the table is an import the code makes, and the code makes no other', () => {
    const made = new Set<string>();
    for (const [file, targets] of importGraph()) {
      for (const target of targets) {
        const [from, to] = [roomOf(file), roomOf(target)];
        if (from && to && from !== to) made.add(`${from} --> ${to}`);
      }
    }
    expect([...made].sort()).toEqual(tableEdges);
  });

  test('no import circle between files (type-only imports included)', () => {
    const graph = importGraph();
    const state = new Map<string, 'open' | 'done'>();
    const circles: string[] = [];
    const visit = (file: string, path: string[]): void => {
      if (state.get(file) === 'done') return;
      if (state.get(file) === 'open') {
        circles.push([...path.slice(path.indexOf(file)), file].join(' -> '));
        return;
      }
      state.set(file, 'open');
      for (const next of graph.get(file) ?? []) visit(next, [...path, file]);
      state.set(file, 'done');
    };
    for (const file of graph.keys()) visit(file, []);
    expect(circles).toEqual([]);
  });
});
