import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The built `hawser` binary; tests that need it skip when it was not built. */
export const CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));
export const cliBuilt = existsSync(CLI);

/** A real `hawser server` process, its output collected. */
export interface ServerProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  stdout(): string;
  stderr(): string;
  /** Log lines (JSON) written so far. */
  lines(): Record<string, unknown>[];
  /** Resolves with the first log line `match` accepts. */
  waitFor(match: (line: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  /** Resolves with the exit code (or signal name). */
  exited: Promise<number | string>;
}

/** Starts `node dist/cli.js server ...args` on loopback ports chosen by the OS. */
export function startServerProcess(args: readonly string[], env: Record<string, string> = {}): ServerProcess {
  const child = spawn(
    process.execPath,
    [CLI, 'server', '--listen', '127.0.0.1:0', '--agent-listen', '127.0.0.1:0', '--log-level', 'info', ...args],
    { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  let err = '';
  const waiters = new Set<() => void>();
  child.stdout!.on('data', (d: Buffer) => {
    out += d.toString('utf8');
    for (const w of waiters) w();
  });
  child.stderr!.on('data', (d: Buffer) => (err += d.toString('utf8')));
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? -1)));
  const lines = (): Record<string, unknown>[] =>
    out
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => {
        try {
          return JSON.parse(l) as Record<string, unknown>;
        } catch {
          return {};
        }
      });
  return {
    child,
    pid: child.pid!,
    stdout: () => out,
    stderr: () => err,
    lines,
    exited,
    waitFor(match, timeoutMs = 30_000) {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          const hit = lines().find(match);
          if (hit) {
            cleanup();
            resolve(hit);
          }
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`no matching log line within ${timeoutMs} ms; stdout:\n${out}\nstderr:\n${err}`));
        }, timeoutMs);
        const onExit = (): void => {
          cleanup();
          reject(new Error(`server exited before the expected log line; stdout:\n${out}\nstderr:\n${err}`));
        };
        const cleanup = (): void => {
          clearTimeout(timer);
          waiters.delete(check);
          child.off('exit', onExit);
        };
        waiters.add(check);
        child.once('exit', onExit);
        check();
      });
    },
  };
}

/** The public URL a started server logged. */
export function listening(line: Record<string, unknown>): boolean {
  return typeof line.msg === 'string' && line.msg.startsWith('hawser server listening');
}
