/** Progress of a long operation, in whatever unit `unit` names (bytes for downloads, tensors for merges…). */
export interface Progress {
  phase: string;
  done: number;
  total: number;
  unit: 'bytes' | 'items';
  /** units per second, smoothed */
  rate: number;
  /** seconds left at the current rate; null until a rate is known */
  etaSeconds: number | null;
  detail?: string;
}

export type ProgressFn = (p: Progress) => void;

/**
 * Turns a stream of "n more units done" into Progress reports with a smoothed rate and an ETA.
 * Reports are throttled (at most one per `intervalMs`, plus the final one) so a fast loop cannot
 * flood the worker→UI channel.
 */
export class ProgressMeter {
  private done = 0;
  private rate = 0;
  private lastAt: number;
  private lastDone = 0;
  private lastReport = -Infinity;

  constructor(
    private readonly total: number,
    private readonly onProgress: ProgressFn | undefined,
    private readonly phase: string,
    private readonly unit: Progress['unit'] = 'bytes',
    private readonly intervalMs = 100,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.lastAt = this.now();
  }

  /** Starts counting from `done` (e.g. bytes already on disk when a download resumes). */
  skip(done: number): void {
    this.done += done;
    this.lastDone = this.done;
    this.report(true);
  }

  add(n: number, detail?: string): void {
    this.done += n;
    this.report(false, detail);
  }

  finish(detail?: string): void {
    this.report(true, detail);
  }

  get value(): number {
    return this.done;
  }

  private report(force: boolean, detail?: string): void {
    const t = this.now();
    const dt = (t - this.lastAt) / 1000;
    if (dt > 0.05) {
      const instant = (this.done - this.lastDone) / dt;
      // Exponential smoothing: rates jump around per chunk, an ETA should not.
      this.rate = this.rate === 0 ? instant : 0.7 * this.rate + 0.3 * instant;
      this.lastAt = t;
      this.lastDone = this.done;
    }
    if (!force && t - this.lastReport < this.intervalMs && this.done < this.total) return;
    this.lastReport = t;
    const left = Math.max(0, this.total - this.done);
    this.onProgress?.({
      phase: this.phase,
      done: this.done,
      total: this.total,
      unit: this.unit,
      rate: this.rate,
      etaSeconds: this.rate > 0 ? left / this.rate : null,
      ...(detail === undefined ? {} : { detail }),
    });
  }
}

export function formatBytes(n: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  let v = n;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${v < 10 && i > 0 ? v.toFixed(1) : Math.round(v)} ${units[i]}`;
}

export function formatEta(seconds: number | null): string {
  if (seconds === null || !Number.isFinite(seconds)) return '–';
  if (seconds < 60) return `${Math.ceil(seconds)} s`;
  const m = Math.floor(seconds / 60);
  if (m < 60) return `${m} min ${Math.round(seconds - m * 60)} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}
