/** The admission benchmark's interleaved summary: pair ratios, their median and range, pooled percentiles. */
import { median, summarizePairs } from '../../../bench/admission/interleave';
import type { SliceResult } from '../../../bench/admission/load';

function slice(latencies: number[], seconds: number): SliceResult {
  const sorted = [...latencies].sort((a, b) => a - b);
  return {
    p50Ms: sorted[Math.floor(sorted.length / 2)],
    p99Ms: sorted[sorted.length - 1],
    rps: latencies.length / seconds,
    requests: latencies.length,
    errors: 0,
    seconds,
    latencies: sorted,
  };
}

test('median of odd and even counts', () => {
  expect(median([3, 1, 2])).toBe(2);
  expect(median([4, 1, 3, 2])).toBe(2.5);
  expect(median([])).toBeNaN();
});

test('each pair gives one ratio; the case reports their median and range, not the ratio of pooled figures', () => {
  // pair 2 ran while the machine was busy: both sides slow, the ratio barely moves
  const pairs = [
    { guard: slice([2, 2, 4], 1), baseline: slice([1, 1, 2], 1) },
    { guard: slice([20, 20, 40], 10), baseline: slice([10, 10, 16], 10) },
    { guard: slice([2, 2, 6], 1), baseline: slice([1, 1, 2], 1) },
  ];
  const s = summarizePairs(pairs);
  expect(s.pairs).toBe(3);
  expect([s.p99RatioMin, s.p99Ratio, s.p99RatioMax]).toEqual([2, 2.5, 3]);
  expect([s.rpsRatioMin, s.rpsRatio, s.rpsRatioMax]).toEqual([1, 1, 1]);
  expect(s.guard.requests).toBe(9);
  expect(s.guard.rps).toBeCloseTo(9 / 12);
  expect(s.baseline.p99Ms).toBe(16);
});

describe('the pooled p99 ratio and the spread of each figure', () => {
  // 1,000 fast requests per side, and one slow request in one guard slice: that pair's p99 ratio jumps, the pooled one
  // (over 4,000 requests per side) barely moves
  const fast = (n: number, ms: number) => Array.from({ length: n }, (_, i) => ms + (i % 10) / 100);
  const pairs = [0, 1, 2, 3].map((i) => ({
    guard: slice(i === 0 ? [...fast(99, 1), 30] : fast(100, 1), 1),
    baseline: slice(fast(100, 1), 1),
  }));

  test('pooled over all slices, one slow request among 400 does not set the p99', () => {
    const s = summarizePairs(pairs);
    expect(s.p99RatioMax).toBeGreaterThan(20);
    expect(s.p99PooledRatio).toBeCloseTo(1, 1);
    expect(s.p99PooledRatioLow).toBeLessThanOrEqual(s.p99PooledRatio);
    expect(s.p99PooledRatioHigh).toBeGreaterThanOrEqual(s.p99PooledRatio);
  });

  test('pairs that agree have no spread; scattered pairs a wide one', () => {
    const same = summarizePairs(
      [0, 1, 2].map(() => ({ guard: slice(fast(100, 2), 1), baseline: slice(fast(100, 1), 1) })),
    );
    expect(same.spread.p99).toBeCloseTo(0, 10);
    expect(same.spread.rps).toBeCloseTo(0, 10);
    const scattered = summarizePairs(
      [1, 2, 4, 8, 16].map((k) => ({ guard: slice(fast(100, k), 1), baseline: slice(fast(100, 1), 1) })),
    );
    expect(scattered.spread.p99).toBeGreaterThan(0.3);
  });

  test('the bootstrap is seeded: the same pairs give the same spread', () => {
    expect(summarizePairs(pairs).spread).toEqual(summarizePairs(pairs).spread);
  });
});
