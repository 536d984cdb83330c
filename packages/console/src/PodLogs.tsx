import { useEffect, useRef, useState } from 'react';
import { kubeStreamText, Refusal } from './api.js';
import { LOG_LINES_MAX, LogBuffer } from './log-buffer.js';

/** A container as the log and exec views offer it: init containers are named as such. */
export interface ContainerChoice {
  name: string;
  init: boolean;
}

type State = { kind: 'streaming' } | { kind: 'following' } | { kind: 'ended'; followed: boolean } | { kind: 'refused'; message: string } | { kind: 'failed'; message: string };

/** How often the page redraws while lines pour in: a busy follow must not re-render per chunk. */
const REDRAW_MS = 100;
const TAIL_CHOICES = [100, 1000, 10_000] as const;

/**
 * One container's log, streamed through the relay as the operator
 * (`GET .../pods/NAME/log`, a read: every agent mode relays it). Follow
 * keeps the request open and appends lines as the kubelet writes them;
 * `previous` reads the last terminated instance. The view keeps the newest
 * 10,000 lines and says how many it dropped. A refusal is shown as the API
 * server's (or Hawser's) sentence where the log would be.
 */
export function PodLogs({ cluster, namespace, pod, containers }: { cluster: string; namespace: string; pod: string; containers: ContainerChoice[] }) {
  const [container, setContainer] = useState(containers.find((c) => !c.init)?.name ?? containers[0]?.name ?? '');
  const [follow, setFollow] = useState(true);
  const [previous, setPrevious] = useState(false);
  const [tail, setTail] = useState<number>(1000);
  const [state, setState] = useState<State>({ kind: 'streaming' });
  const [shown, setShown] = useState({ text: '', lines: 0, dropped: 0 });
  const [run, setRun] = useState(0);
  const pre = useRef<HTMLPreElement>(null);
  const pinned = useRef(true);

  useEffect(() => {
    if (!container) return;
    const abort = new AbortController();
    const buffer = new LogBuffer();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const redraw = () => {
      timer = undefined;
      setShown({ text: buffer.text, lines: buffer.lineCount, dropped: buffer.dropped });
    };
    const q = new URLSearchParams({ container, tailLines: String(tail) });
    if (follow && !previous) q.set('follow', 'true');
    if (previous) q.set('previous', 'true');
    setShown({ text: '', lines: 0, dropped: 0 });
    setState({ kind: follow && !previous ? 'following' : 'streaming' });
    const path = `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(pod)}/log?${q.toString()}`;
    kubeStreamText(
      cluster,
      path,
      (text) => {
        buffer.append(text);
        timer ??= setTimeout(redraw, REDRAW_MS);
      },
      abort.signal,
    ).then(
      () => {
        clearTimeout(timer);
        redraw();
        // A follow only ends when something went away (the container, the tunnel): say so.
        setState({ kind: 'ended', followed: follow && !previous });
      },
      (err: unknown) => {
        if (abort.signal.aborted) return;
        clearTimeout(timer);
        redraw();
        setState(err instanceof Refusal ? { kind: 'refused', message: err.message } : { kind: 'failed', message: (err as Error).message });
      },
    );
    return () => {
      abort.abort();
      clearTimeout(timer);
    };
  }, [cluster, namespace, pod, container, follow, previous, tail, run]);

  // Keep the newest line in view while the operator has not scrolled up.
  useEffect(() => {
    const el = pre.current;
    if (el && pinned.current) el.scrollTop = el.scrollHeight;
  }, [shown]);

  return (
    <section className="pod-logs">
      <div className="toolbar">
        <label>
          Container{' '}
          <select data-testid="log-container" value={container} onChange={(e) => setContainer(e.target.value)}>
            {containers.map((c) => (
              <option key={`${c.init ? 'init' : 'main'}/${c.name}`} value={c.name}>
                {c.init ? `${c.name} (init)` : c.name}
              </option>
            ))}
          </select>
        </label>
        <label>
          <input type="checkbox" data-testid="log-follow" checked={follow} disabled={previous} onChange={(e) => setFollow(e.target.checked)} /> Follow
        </label>
        <label>
          <input type="checkbox" data-testid="log-previous" checked={previous} onChange={(e) => setPrevious(e.target.checked)} /> Previous instance
        </label>
        <label>
          Last{' '}
          <select value={tail} onChange={(e) => setTail(Number(e.target.value))}>
            {TAIL_CHOICES.map((n) => (
              <option key={n} value={n}>
                {n.toLocaleString()} lines
              </option>
            ))}
          </select>
        </label>
        <button onClick={() => setRun((n) => n + 1)}>Reload</button>
        <span data-testid="log-state" className={state.kind === 'following' ? 'live' : 'muted'}>
          {state.kind === 'following' ? 'following' : state.kind === 'streaming' ? 'loading…' : state.kind === 'ended' ? `${shown.lines.toLocaleString()} lines${state.followed ? '; the stream ended (Reload resumes it)' : ''}` : ''}
        </span>
      </div>
      {state.kind === 'refused' || state.kind === 'failed' ? (
        <p className="refusal" role="alert">
          {state.message}
        </p>
      ) : null}
      {shown.dropped > 0 ? <p className="muted">{shown.dropped.toLocaleString()} older lines dropped: the view keeps the newest {LOG_LINES_MAX.toLocaleString()}.</p> : null}
      <pre
        ref={pre}
        className="log"
        data-testid="log"
        onScroll={(e) => {
          const el = e.currentTarget;
          pinned.current = el.scrollTop + el.clientHeight >= el.scrollHeight - 4;
        }}
      >
        {shown.text}
      </pre>
    </section>
  );
}
