/** `bench admission --compare`: which cases agree within ±15%, and whether a case that does not is within its noise. */
import { agreements, judge, summaryLines, type RunCase } from '../../../bench/admission/compare';
import { bootstrap, logSpread, quantile, seededRandom } from '../../../bench/admission/spread';

const run = (over: Partial<RunCase>): RunCase => ({
  records: 256,
  concurrency: 8,
  webhook: 'validate',
  review: 'release',
  p99Ratio: 1,
  rpsRatio: 1,
  ...over,
});

describe('judging two runs of a case', () => {
  test('within ±15% agrees whatever the spread', () => {
    expect(judge(1, 1.14, 0)).toBe('agrees');
    expect(judge(1, 0.86, NaN)).toBe('agrees');
  });

  test('outside ±15%: noise when within two predicted standard deviations, moved beyond them', () => {
    expect(judge(1, 1.3, 0.2)).toBe('noise'); // ln 1.3 = 0.26 ≤ 0.4
    expect(judge(1, 1.3, 0.1)).toBe('moved'); // 0.26 > 0.2
    expect(judge(1, 1.3, NaN)).toBe('unknown');
  });

  test('the spread comes from the recorded figure, else from the pair ratios; older files lack the pooled p99', () => {
    const a = run({ p99Ratio: 1, rpsRatio: 0.9, p99Ratios: [0.5, 1, 2, 0.7, 1.6], rpsRatios: [0.9, 0.9, 0.9] });
    const b = run({ p99Ratio: 1.5, rpsRatio: 0.9, p99Ratios: [0.6, 1.5, 3, 0.9, 2], rpsRatios: [0.9, 0.9, 0.9] });
    const [row] = agreements([a], [b]);
    expect(row.figures.map((f) => f.figure)).toEqual(['p99', 'rps']);
    const p99 = row.figures[0];
    expect(p99.deviation).toBeCloseTo(0.5);
    expect(p99.verdict).toBe('noise');
    expect(row.figures[1].verdict).toBe('agrees');
    const recorded = agreements([{ ...a, spread: { p99: 0.01 } }], [{ ...b, spread: { p99: 0.01 } }])[0];
    expect(recorded.figures[0].verdict).toBe('moved');
  });

  test('the summary names the cases outside ±15% and why', () => {
    const rows = agreements(
      [run({ p99Ratio: 1, spread: { p99: 0.2 } }), run({ concurrency: 32, p99Ratio: 1, spread: { p99: 0.01 } })],
      [run({ p99Ratio: 1.3, spread: { p99: 0.2 } }), run({ concurrency: 32, p99Ratio: 1.3, spread: { p99: 0.01 } })],
    );
    const [p99] = summaryLines(rows);
    expect(p99).toMatch(/^p99 ratio \(median of pairs\): 0\/2 within ±15%/);
    // each run's spread 0.2: σΔ = √(0.2² + 0.2²) = 0.28 in logs, ±33%
    expect(p99).toContain("within their pairs' noise: 256 c=8 validate/release (σΔ ±33%)");
    expect(p99).toContain('moved beyond it: 256 c=32 validate/release');
  });
});

describe('spread helpers', () => {
  test('the PRNG is seeded and in [0, 1)', () => {
    const [a, b] = [seededRandom(7), seededRandom(7)];
    const xs = Array.from({ length: 1000 }, a);
    expect(xs).toEqual(Array.from({ length: 1000 }, b));
    expect(Math.min(...xs)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...xs)).toBeLessThan(1);
  });

  test('logSpread is the standard deviation of the logs, ignoring what has no log', () => {
    expect(logSpread([Math.E, 1 / Math.E])).toBeCloseTo(Math.sqrt(2));
    expect(logSpread([2, 2, NaN, 0, -1])).toBe(0);
    expect(logSpread([2])).toBeNaN();
  });

  test('bootstrap resamples with replacement', () => {
    const means = bootstrap([1, 2, 3], (s) => s.reduce((x, y) => x + y) / s.length, 500);
    expect(means).toHaveLength(500);
    expect(Math.min(...means)).toBeGreaterThanOrEqual(1);
    expect(Math.max(...means)).toBeLessThanOrEqual(3);
    expect(new Set(means).size).toBeGreaterThan(3);
    expect(quantile([3, 1, 2, NaN], 0.5)).toBe(2);
  });
});
