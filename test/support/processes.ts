import { spawn, type ChildProcess } from 'node:child_process';

/** What a finished command printed and how it exited. */
export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion (kubectl, helm, the hawser CLI); never throws on a non-zero exit. */
export function runCommand(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; input?: string; cwd?: string } = {}): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: opts.env ?? process.env, cwd: opts.cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
    // A command that exits without reading its stdin (most do) closes the
    // pipe first: EPIPE on the write is then expected, and must not become
    // an uncaught exception in the test runner.
    child.stdin.on('error', () => undefined);
    child.stdin.end(opts.input ?? '');
  });
}

/** A child process under test with its output kept, parsed as pino JSON lines where possible. */
export interface TestProcess {
  readonly child: ChildProcess;
  readonly lines: string[];
  /** Resolves with the first JSON log line that matches. */
  waitForLog(match: (entry: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  /** SIGTERM, then SIGKILL after a grace; resolves when the process is gone. */
  stop(graceMs?: number): Promise<number | null>;
  /** SIGKILL at once: a crash, as far as peers can tell. */
  kill(): Promise<void>;
  readonly exited: Promise<number | null>;
}

const running = new Set<ChildProcess>();
// Never leave a server or agent behind when the test runner exits.
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

export function startProcess(command: string, args: string[], env: NodeJS.ProcessEnv): TestProcess {
  const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  const lines: string[] = [];
  const entries: Record<string, unknown>[] = [];
  const waiters = new Set<{ match: (e: Record<string, unknown>) => boolean; resolve: (e: Record<string, unknown>) => void }>();
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => {
    running.delete(child);
    resolve(code);
  }));
  const onLine = (line: string) => {
    lines.push(line);
    // Long-running processes (the demo) keep only their recent output.
    if (lines.length > 20_000) lines.splice(0, 10_000);
    if (process.env.HAWSER_TEST_VERBOSE) process.stderr.write(`[${args[1] ?? command}] ${line}\n`);
    let entry: Record<string, unknown>;
    try {
      entry = JSON.parse(line) as Record<string, unknown>;
    } catch {
      return;
    }
    entries.push(entry);
    if (entries.length > 20_000) entries.splice(0, 10_000);
    for (const w of waiters) {
      if (w.match(entry)) {
        waiters.delete(w);
        w.resolve(entry);
      }
    }
  };
  for (const stream of [child.stdout!, child.stderr!]) {
    let buffer = '';
    stream.setEncoding('utf8');
    stream.on('data', (d: string) => {
      buffer += d;
      let i: number;
      while ((i = buffer.indexOf('\n')) >= 0) {
        onLine(buffer.slice(0, i));
        buffer = buffer.slice(i + 1);
      }
    });
  }
  return {
    child,
    lines,
    exited,
    waitForLog(match, timeoutMs = 30_000) {
      const found = entries.find(match);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const w = { match, resolve };
        waiters.add(w);
        const timer = setTimeout(() => {
          waiters.delete(w);
          reject(new Error(`no matching log line within ${timeoutMs} ms; output:\n${lines.slice(-30).join('\n')}`));
        }, timeoutMs);
        void exited.then((code) => {
          if (!waiters.has(w)) return;
          clearTimeout(timer);
          waiters.delete(w);
          reject(new Error(`process exited (${code}) before the log line; output:\n${lines.slice(-30).join('\n')}`));
        });
        const done = w.resolve;
        w.resolve = (e) => {
          clearTimeout(timer);
          done(e);
        };
      });
    },
    async stop(graceMs = 5000) {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
    async kill() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGKILL');
      await exited;
    },
  };
}
