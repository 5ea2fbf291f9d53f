// A cheap, periodic GET /readyz against the API server. It tells the reflectors two things their watches cannot:
// that the API server has gone quiet (an open watch is silent both when nothing changes and when the API server is
// frozen), and that it answers again (so a reflector waiting out a backoff can retry at once).
import { Logger } from '../log';

/** ready: /readyz answered 200; answering: some other HTTP status; silent: no answer within the timeout. */
export type ApiServerState = 'ready' | 'answering' | 'silent';

export interface StatusGetter {
  status(path: string, timeoutMs: number): Promise<number>;
}

export interface ApiServerProbeOptions {
  /** pause between the end of one probe and the next (default 1000 ms) */
  intervalMs?: number;
  /** the pause while the API server is silent: its return is noticed sooner (default 250 ms) */
  silentIntervalMs?: number;
  /** a probe without an answer after this long counts as silent (default 2000 ms) */
  timeoutMs?: number;
}

export class ApiServerProbe {
  private timer?: NodeJS.Timeout;
  private stopped = false;
  state: ApiServerState | undefined;

  constructor(
    private readonly http: StatusGetter,
    private readonly onResult: (state: ApiServerState) => void,
    private readonly log: Logger,
    private readonly opts: ApiServerProbeOptions = {},
  ) {}

  start(): void {
    void this.tick();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  private async tick(): Promise<void> {
    if (this.stopped) return;
    let state: ApiServerState;
    let detail: string | number;
    try {
      const code = await this.http.status('/readyz', this.opts.timeoutMs ?? 2000);
      state = code === 200 ? 'ready' : 'answering';
      detail = code;
    } catch (err) {
      state = 'silent';
      detail = (err as Error).message;
    }
    if (this.stopped) return;
    if (state !== this.state)
      this.log.info({ apiServer: state, was: this.state ?? 'unknown', detail }, 'API server probe state changed');
    this.state = state;
    this.onResult(state);
    const pause = state === 'silent' ? (this.opts.silentIntervalMs ?? 250) : (this.opts.intervalMs ?? 1000);
    this.timer = setTimeout(() => void this.tick(), pause);
  }
}
