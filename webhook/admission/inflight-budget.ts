// The in-flight byte budget: the bytes of all request bodies being read or decided, admitted by cost. Who waits for
// it is budget-queue.ts; reading a body against it is body.ts.

/** Default in-flight budget: four bodies at the limit (the chart derives it from the memory limit). */
export const DEFAULT_INFLIGHT_BUDGET_BYTES = 64 * 1024 * 1024;

/**
 * Bodies above this are large: decided one at a time (heavy-lane.ts), and admitted only while they leave the
 * budget's reserve free. A review of a few hundred records, or an allocation in a pool of a few thousand, is far
 * below it; a 16,384-record pool's review is about 3 MB.
 */
export const HEAVY_BODY_BYTES = 1024 * 1024;

/** The part of the budget only small bodies may use: an eighth of it, at least 1 MiB, at most 8 MiB, at most half. */
export function smallReserveOf(limitBytes: number): number {
  return Math.min(Math.floor(limitBytes / 2), 8 * 1024 * 1024, Math.max(1024 * 1024, Math.floor(limitBytes / 8)));
}

/**
 * The bytes of all bodies in flight, admitted by cost. A small review and a huge release do not compete for the same
 * bytes: large bodies may fill the budget only up to the limit minus a reserve, and small ones may use all of it. A
 * burst of huge releases then holds at most limit - reserve, and a review of a few records arriving during it is
 * still read and judged, instead of being turned away with 429 until the burst has passed. The sum never exceeds
 * the limit (but for a lone body), so memory stays bounded as before.
 */
export class InflightBudget {
  private used = 0;

  constructor(
    readonly limitBytes: number,
    private readonly onChange: (bytes: number) => void = () => undefined,
    readonly reserveBytes = smallReserveOf(limitBytes),
  ) {}

  /**
   * Takes n more bytes for a body that is `bodyBytes` long (declared, or read so far, these n included) if they fit:
   * a small body up to the limit, a large one up to the limit minus the reserve. A lone body always fits, so a body
   * at the size limit is never refused forever.
   */
  tryTake(n: number, bodyBytes = n): boolean {
    const ceiling = bodyBytes > HEAVY_BODY_BYTES ? this.limitBytes - this.reserveBytes : this.limitBytes;
    if (this.used > 0 && this.used + n > ceiling) return false;
    this.used += n;
    this.onChange(this.used);
    return true;
  }

  give(n: number): void {
    this.used = Math.max(0, this.used - n);
    this.onChange(this.used);
  }

  get inUse(): number {
    return this.used;
  }
}
