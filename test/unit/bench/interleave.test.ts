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
