// A watch read as it arrives (webhook/cluster/watch-stream.ts): event lines cut wherever the chunks end, decoded whole
// (multi-byte characters split across chunks intact), and a bound on a line that never ends.
import { LineSplitter, WatchStreamError } from '../../../webhook/cluster/watch-stream';

const events = [
  { type: 'ADDED', object: { metadata: { name: 'a', annotations: { x: 'ünïcödé 🚀 \u2028 "quoted" \\ {[' } } } },
  { type: 'MODIFIED', object: { metadata: { name: 'b' }, data: { nl: 'line\nbreak', esc: '\\n \\" \\\\' } } },
  {
    type: 'BOOKMARK',
    object: { metadata: { resourceVersion: '9', annotations: { 'k8s.io/initial-events-end': 'true' } } },
  },
];
const stream = Buffer.from(events.map((e) => JSON.stringify(e) + '\n').join(''), 'utf8');

function split(chunks: Buffer[]): unknown[] {
  const out: unknown[] = [];
  const lines = new LineSplitter((b) => out.push(JSON.parse(b.toString('utf8'))));
  for (const c of chunks) lines.push(c);
  expect(lines.unfinished).toBe(0);
  return out;
}

describe('LineSplitter', () => {
  it('yields every event JSON.parse yields, whatever byte the chunks are cut at (inside strings, escapes, characters)', () => {
    expect(split([stream])).toEqual(events);
    for (let cut = 1; cut < stream.length; cut++) {
      expect(split([stream.subarray(0, cut), stream.subarray(cut)])).toEqual(events);
    }
  });

  it('yields the same for one-byte chunks and for chunks holding several lines, and skips empty lines', () => {
    const bytes = [...stream].map((b) => Buffer.from([b]));
    expect(split(bytes)).toEqual(events);
    expect(split([Buffer.from('\n\n'), stream, Buffer.from('\n')])).toEqual(events);
  });

  it('keeps an unfinished line until its newline, and says how much is pending', () => {
    const out: string[] = [];
    const lines = new LineSplitter((b) => out.push(b.toString()));
    lines.push(Buffer.from('{"type":"AD'));
    expect(out).toEqual([]);
    expect(lines.unfinished).toBe(11);
    lines.push(Buffer.from('DED"}\n{"ty'));
    expect(out).toEqual(['{"type":"ADDED"}']);
    expect(lines.unfinished).toBe(4);
  });

  it('fails, naming the bound, when a line grows past it', () => {
    const lines = new LineSplitter(() => {}, 16);
    lines.push(Buffer.from('0123456789'));
    expect(() => lines.push(Buffer.from('0123456789'))).toThrow(WatchStreamError);
    expect(() => new LineSplitter(() => {}, 16).push(Buffer.from('x'.repeat(17)))).toThrow(/longer than 16 bytes/);
  });
});
