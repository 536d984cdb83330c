/**
 * CPU profiles for the benchmarks: a V8 sampling profile of this process
 * between start() and stop() (node:inspector, so only the measured part is
 * in it), and a summary of a profile by self time: which frames the CPU
 * was in, grouped the way docs/protocol.md reports them.
 */
import { Session } from 'node:inspector/promises';
import { writeFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
export interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

/** Samples this process from start() to stop(); 200 µs between samples. */
export class CpuProfiler {
  readonly #session = new Session();

  async start(): Promise<void> {
    this.#session.connect();
    await this.#session.post('Profiler.enable');
    await this.#session.post('Profiler.setSamplingInterval', { interval: 200 });
    await this.#session.post('Profiler.start');
  }

  /** Stops and writes the profile (Chrome DevTools / speedscope format) to `file`. */
  async stop(file: string): Promise<CpuProfile> {
    const { profile } = (await this.#session.post('Profiler.stop')) as unknown as { profile: CpuProfile };
    this.#session.disconnect();
    writeFileSync(file, JSON.stringify(profile));
    return profile;
  }
}

const MAX_DELTA_US = 5000;

/** Where a frame's code lives: what the summary names it by. */
function place(url: string): string {
  if (!url) return '';
  const m = /\/packages\/([^/]+)\/(?:src|dist)\/(.+?)\.[jt]s$/.exec(url) ?? /\/(bench\/.+?)\.ts$/.exec(url);
  if (m) return m.length > 2 ? `${m[1]}/${m[2]}` : m[1]!;
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)\/(.+)$/.exec(url);
  if (nm) return `${nm[1]}/${nm[2]!.split('/').pop()}`;
  return url.replace(/^node:/, '');
}

/**
 * Self time by frame (function and file), top `n`, plus the share of
 * garbage collection, idle and native/program time. Percentages are of the
 * profile's wall time; what is not idle is CPU on the JS thread.
 */
export function summarize(profile: CpuProfile, n = 12): string {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const self = new Map<number, number>();
  // A sample's delta is clamped: the first and last ones span the
  // profiler's own start and stop, which would otherwise show as minutes
  // of some native frame.
  let total = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const us = Math.min(profile.timeDeltas[i] ?? 0, MAX_DELTA_US);
    total += us;
    self.set(profile.samples[i]!, (self.get(profile.samples[i]!) ?? 0) + us);
  }
  const frames = new Map<string, number>();
  for (const [id, us] of self) {
    const f = byId.get(id)!.callFrame;
    const key = `${f.functionName || '(anonymous)'} ${place(f.url)}${f.url ? `:${f.lineNumber + 1}` : ''}`.trim();
    frames.set(key, (frames.get(key) ?? 0) + us);
  }
  const pct = (us: number): string => `${((us / total) * 100).toFixed(1)}%`;
  const get = (name: string): number => frames.get(name) ?? 0;
  const lines = [
    `sampled ${(total / 1000).toFixed(0)} ms; idle ${pct(get('(idle)'))}, GC ${pct(get('(garbage collector)'))}, program (native, outside JS) ${pct(get('(program)'))}`,
    ...[...frames]
      .filter(([k]) => !['(idle)', '(garbage collector)', '(program)', '(root)'].includes(k))
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([k, us]) => `  ${pct(us).padStart(6)}  ${k}`),
  ];
  return lines.join('\n');
}

/** The part of a profile between two monotonic timestamps (µs, as process.hrtime), to summarize one phase of a run. */
export function cut(profile: CpuProfile, fromUs: number, toUs: number): CpuProfile {
  const samples: number[] = [];
  const timeDeltas: number[] = [];
  let t = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    t += profile.timeDeltas[i] ?? 0;
    if (t < fromUs || t > toUs) continue;
    samples.push(profile.samples[i]!);
    timeDeltas.push(profile.timeDeltas[i] ?? 0);
  }
  return { ...profile, samples, timeDeltas, startTime: Math.max(fromUs, profile.startTime), endTime: Math.min(toUs, profile.endTime) };
}
