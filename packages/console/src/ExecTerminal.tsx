import { useEffect, useRef, useState } from 'react';
import { Terminal } from '@xterm/xterm';
import { FitAddon } from '@xterm/addon-fit';
import '@xterm/xterm/css/xterm.css';
import { mirrorInlineStyles } from './constructed-styles.js';
import { ExecChannel, execUrl, splitCommand, type ExecEnd } from './exec-channel.js';

type State = { kind: 'idle' } | { kind: 'connecting' } | { kind: 'open'; protocol: string } | { kind: 'ended'; end: ExecEnd };

const THEME = { background: '#10141c', foreground: '#e3e6ec', cursor: '#e3e6ec' } as const;

function describe(state: State): string {
  switch (state.kind) {
    case 'idle':
      return 'not connected';
    case 'connecting':
      return 'connecting…';
    case 'open':
      return `connected (${state.protocol})`;
    case 'ended':
      return state.end.kind === 'exited' ? `exited with code ${state.end.code}` : state.end.message;
  }
}

/**
 * An interactive exec session in one container, in xterm.js: pods/exec over
 * the Kubernetes WebSocket protocol (exec-channel.ts) through the relay,
 * with a TTY, so keystrokes go to stdin raw and the terminal's size follows
 * the page. Loaded on demand (React.lazy) so pages without a terminal do not
 * carry xterm.js. The parent shows it only where the agent's mode and the
 * operator's RBAC allow exec; the API server still decides.
 */
export default function ExecTerminal({ cluster, namespace, pod, containers }: { cluster: string; namespace: string; pod: string; containers: string[] }) {
  const [container, setContainer] = useState(containers[0] ?? '');
  const [command, setCommand] = useState('sh');
  const [state, setState] = useState<State>({ kind: 'idle' });
  const [session, setSession] = useState(0);
  const host = useRef<HTMLDivElement>(null);

  useEffect(() => {
    const el = host.current;
    if (!el || session === 0) return;
    const unmirror = mirrorInlineStyles(el);
    const term = new Terminal({ cursorBlink: true, fontSize: 13, theme: THEME, scrollback: 5000 });
    const fit = new FitAddon();
    term.loadAddon(fit);
    term.open(el);
    fit.fit();
    setState({ kind: 'connecting' });
    const channel = new ExecChannel(execUrl({ cluster, namespace, pod, container, command: splitCommand(command) }), {
      open: (protocol) => {
        setState({ kind: 'open', protocol });
        channel.resize(term.cols, term.rows);
        term.focus();
      },
      output: (bytes) => term.write(bytes),
      end: (end) => {
        setState({ kind: 'ended', end });
        term.write(`\r\n\x1b[2m[${describe({ kind: 'ended', end })}]\x1b[0m\r\n`);
      },
    });
    const typed = term.onData((data) => channel.send(data));
    const resized = term.onResize(({ cols, rows }) => channel.resize(cols, rows));
    const observer = new ResizeObserver(() => fit.fit());
    observer.observe(el);
    return () => {
      observer.disconnect();
      typed.dispose();
      resized.dispose();
      channel.close();
      term.dispose();
      unmirror();
    };
    // Only Connect starts a session: changing the fields meanwhile must not reconnect.
  }, [session]);

  const running = state.kind === 'connecting' || state.kind === 'open';
  return (
    <section className="exec">
      <form
        className="toolbar"
        onSubmit={(e) => {
          e.preventDefault();
          if (splitCommand(command).length > 0) setSession((n) => n + 1);
        }}
      >
        <label>
          Container{' '}
          <select data-testid="exec-container" value={container} disabled={running} onChange={(e) => setContainer(e.target.value)}>
            {containers.map((c) => (
              <option key={c}>{c}</option>
            ))}
          </select>
        </label>
        <label>
          Command <input name="command" data-testid="exec-command" value={command} disabled={running} onChange={(e) => setCommand(e.target.value)} />
        </label>
        {/* Keyed: React would otherwise turn the clicked Disconnect into the submit
            button during its own click, and the browser would then submit (reconnect). */}
        {running ? (
          <button
            key="disconnect"
            type="button"
            data-testid="exec-disconnect"
            onClick={() => {
              setSession(0);
              setState({ kind: 'idle' });
            }}
          >
            Disconnect
          </button>
        ) : (
          <button key="connect" type="submit" data-testid="exec-connect">
            Connect
          </button>
        )}
        <span data-testid="exec-state" data-state={state.kind} className={state.kind === 'open' ? 'live' : 'muted'}>
          {describe(state)}
        </span>
      </form>
      <div ref={host} className="terminal" data-testid="terminal" />
    </section>
  );
}
