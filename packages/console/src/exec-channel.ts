/**
 * The Kubernetes exec WebSocket protocol, as the browser speaks it through
 * the relay. Every binary message is one byte naming the channel, then the
 * data: 0 stdin, 1 stdout, 2 stderr, 3 the final status (a JSON
 * metav1.Status), 4 terminal size (JSON {"Width","Height"}). v5 adds a
 * close signal (channel 255, then the id of the stream to close); v4 is
 * the same without it, so the browser offers v5 first and takes v4 from an
 * older API server. Older versions (v1-v3) answer status differently and are
 * not offered. The session cookie rides along with the handshake (the
 * browser cannot set Authorization on a WebSocket); Hawser requires the
 * handshake's Origin to be the console's own.
 */

export const EXEC_PROTOCOLS = ['v5.channel.k8s.io', 'v4.channel.k8s.io'] as const;

export const Channels = { stdin: 0, stdout: 1, stderr: 2, status: 3, resize: 4, close: 255 } as const;

export interface ExecTarget {
  cluster: string;
  namespace: string;
  pod: string;
  container: string;
  command: readonly string[];
}

/** How a session ended: the command's exit code when it ran, else the sentence why not. */
export type ExecEnd = { kind: 'exited'; code: number } | { kind: 'failed'; message: string } | { kind: 'closed'; message: string };

/** The wss: URL of a pods/exec through the relay, on the page's own origin; stdin and a TTY, so stderr rides on stdout. */
export function execUrl(t: ExecTarget, origin: string = location.origin): string {
  const q = new URLSearchParams({ container: t.container, stdin: 'true', stdout: 'true', tty: 'true' });
  for (const arg of t.command) q.append('command', arg);
  const path = `/clusters/${encodeURIComponent(t.cluster)}/api/v1/namespaces/${encodeURIComponent(t.namespace)}/pods/${encodeURIComponent(t.pod)}/exec`;
  return `${origin.replace(/^http/, 'ws')}${path}?${q.toString()}`;
}

/** A command line as the operator typed it, split on blanks; "double" or 'single' quotes keep blanks in one argument. */
export function splitCommand(line: string): string[] {
  const args: string[] = [];
  for (const m of line.matchAll(/"([^"]*)"|'([^']*)'|(\S+)/g)) args.push(m[1] ?? m[2] ?? m[3]!);
  return args;
}

/** Reads the status channel: success is exit 0; NonZeroExitCode carries the code in details.causes. */
export function readStatus(json: string): ExecEnd {
  let status: { status?: string; message?: string; reason?: string; details?: { causes?: { reason?: string; message?: string }[] } };
  try {
    status = JSON.parse(json) as typeof status;
  } catch {
    return { kind: 'failed', message: json };
  }
  if (status.status === 'Success') return { kind: 'exited', code: 0 };
  const exit = status.details?.causes?.find((c) => c.reason === 'ExitCode');
  if (status.reason === 'NonZeroExitCode' && exit?.message !== undefined) return { kind: 'exited', code: Number(exit.message) };
  return { kind: 'failed', message: status.message ?? json };
}

export interface ExecHandlers {
  /** stdout (and stderr, which a TTY merges into it). */
  output(bytes: Uint8Array): void;
  /** The WebSocket is open; `protocol` is the version the API server chose. */
  open(protocol: string): void;
  end(how: ExecEnd): void;
}

/** One exec session over one WebSocket. */
export class ExecChannel {
  readonly #ws: WebSocket;
  readonly #encoder = new TextEncoder();
  #ended = false;

  constructor(url: string, handlers: ExecHandlers) {
    this.#ws = new WebSocket(url, [...EXEC_PROTOCOLS]);
    this.#ws.binaryType = 'arraybuffer';
    const end = (how: ExecEnd) => {
      if (this.#ended) return;
      this.#ended = true;
      handlers.end(how);
    };
    let opened = false;
    this.#ws.onopen = () => {
      opened = true;
      handlers.open(this.#ws.protocol);
    };
    this.#ws.onmessage = (e: MessageEvent<ArrayBuffer | string>) => {
      if (typeof e.data === 'string') return; // the channel protocols are binary only
      const bytes = new Uint8Array(e.data);
      // A lone channel byte announces the channel; it carries no data.
      if (bytes.length <= 1) return;
      const data = bytes.subarray(1);
      if (bytes[0] === Channels.stdout || bytes[0] === Channels.stderr) handlers.output(data);
      else if (bytes[0] === Channels.status) end(readStatus(new TextDecoder().decode(data)));
    };
    this.#ws.onclose = (e) => {
      // The browser hides why a handshake failed (the relay's 401/403/503
      // body never reaches the page): say what the operator can check.
      if (!opened) end({ kind: 'failed', message: 'the exec session could not be opened: the cluster refused it, the agent is not connected, or the sign-in has ended (the audit log has the reason)' });
      else end({ kind: 'closed', message: `the connection closed${e.reason ? `: ${e.reason}` : ''} before the command reported its exit` });
    };
  }

  /** Keystrokes (or pasted text) toward the command's stdin. */
  send(text: string): void {
    this.#write(Channels.stdin, this.#encoder.encode(text));
  }

  /** The terminal's size, so full-screen programs draw for it. */
  resize(cols: number, rows: number): void {
    this.#write(Channels.resize, this.#encoder.encode(JSON.stringify({ Width: cols, Height: rows })));
  }

  close(): void {
    this.#ended = true;
    this.#ws.close(1000);
  }

  #write(channel: number, data: Uint8Array): void {
    if (this.#ws.readyState !== WebSocket.OPEN) return;
    const frame = new Uint8Array(data.length + 1);
    frame[0] = channel;
    frame.set(data, 1);
    this.#ws.send(frame);
  }
}
