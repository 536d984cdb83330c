/** Small statistics helpers for the benchmarks. */

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i] as number;
}

export function summarize(samples: number[]): { n: number; p50: number; p99: number; max: number } {
  const s = [...samples].sort((a, b) => a - b);
  return { n: s.length, p50: percentile(s, 50), p99: percentile(s, 99), max: s[s.length - 1] ?? NaN };
}

/** Samples process memory every `everyMs` until stopped; reports the peak above the starting point. */
export class MemorySampler {
  #timer: NodeJS.Timeout;
  #baseRss: number;
  #baseExternal: number;
  peakRss = 0;
  peakExternal = 0;
  extra: () => number;
  peakExtra = 0;

  constructor(everyMs = 5, extra: () => number = () => 0) {
    const m = process.memoryUsage();
    this.#baseRss = m.rss;
    this.#baseExternal = m.arrayBuffers;
    this.extra = extra;
    this.#timer = setInterval(() => this.sample(), everyMs);
  }

  sample(): void {
    const m = process.memoryUsage();
    this.peakRss = Math.max(this.peakRss, m.rss - this.#baseRss);
    this.peakExternal = Math.max(this.peakExternal, m.arrayBuffers - this.#baseExternal);
    this.peakExtra = Math.max(this.peakExtra, this.extra());
  }

  stop(): this {
    clearInterval(this.#timer);
    this.sample();
    return this;
  }
}

export const MB = 1024 * 1024;

export function fmtMs(ms: number): string {
  return ms < 10 ? ms.toFixed(2) : ms.toFixed(1);
}

export function ratio(a: number, b: number): string {
  return b === 0 ? 'n/a' : (a / b).toFixed(2);
}
