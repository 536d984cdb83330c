/**
 * What the fleet bench reads off the server process: its memory after a
 * forced full collection (bench/lib/memory-probe.mjs, preloaded, answers
 * SIGUSR2 with a JSON report) and its CPU time from /proc/<pid>/stat
 * (utime + stime), so CPU over a window is a difference of two reads.
 * Linux only.
 */
import { existsSync, readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { setTimeout as delay } from 'node:timers/promises';

export interface ServerMemory {
  rss: number;
  heapUsed: number;
  external: number;
}

/** Clock ticks per second of /proc/<pid>/stat (USER_HZ, 100 on Linux). */
const USER_HZ = 100;

/** The server's memory after a forced full GC, from the preloaded probe writing `${out}.${pid}.json`. */
export async function probeMemory(pid: number, out: string): Promise<ServerMemory> {
  const file = `${out}.${pid}.json`;
  await rm(file, { force: true });
  process.kill(pid, 'SIGUSR2');
  for (let i = 0; i < 1200 && !existsSync(file); i++) await delay(100);
  const report = JSON.parse(readFileSync(file, 'utf8')) as { status: { VmRSS: number }; memoryUsage: NodeJS.MemoryUsage };
  return { rss: report.status.VmRSS, heapUsed: report.memoryUsage.heapUsed, external: report.memoryUsage.external };
}

/** CPU seconds (user + system) the process has used so far. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name may hold spaces; the fields we want follow its closing parenthesis.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / USER_HZ;
}

/** Measures a process's CPU over a window: call the returned function at its end (-> percent of one core, and seconds). */
export function cpuWindow(pid: number): () => { percent: number; cpuSeconds: number; wallSeconds: number } {
  const cpu0 = cpuSeconds(pid);
  const t0 = performance.now();
  return () => {
    const used = cpuSeconds(pid) - cpu0;
    const wall = (performance.now() - t0) / 1000;
    return { percent: (100 * used) / wall, cpuSeconds: used, wallSeconds: wall };
  };
}

/** The 1-minute load average, as the docs quote it. */
export function load1(): number {
  return Math.round(loadavg()[0]! * 100) / 100;
}
