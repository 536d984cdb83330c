import { afterEach, describe, expect, it } from 'vitest';
import { vi } from 'vitest';
import { followList, type KubeObject, type ListSink, type WatchState } from '../src/watch-list.js';
import { json, stubFetch, watchStream } from './fetch-stub.js';

const pod = (name: string, rv: string): KubeObject => ({ metadata: { uid: `uid-${name}`, name, namespace: 'ns', resourceVersion: rv, creationTimestamp: '2026-01-01T00:00:00Z' } });
const list = (rv: string, ...items: KubeObject[]) => json({ metadata: { resourceVersion: rv }, items });

/** A sink that records what followList reported, and wakes waiters on each report. */
function recorder() {
  const states: WatchState['kind'][] = [];
  const changes: string[] = [];
  const resets: number[] = [];
  let waiters: (() => void)[] = [];
  const wake = () => {
    waiters.forEach((w) => w());
    waiters = [];
  };
  const sink: ListSink = {
    reset: (items) => resets.push(items.length),
    change: (type, o) => {
      changes.push(`${type} ${o.metadata.name}`);
      wake();
    },
    state: (s) => {
      states.push(s.kind);
      wake();
    },
  };
  const until = async (pred: () => boolean) => {
    while (!pred()) await new Promise<void>((r) => waiters.push(r));
  };
  return { sink, states, changes, resets, until };
}

afterEach(() => vi.unstubAllGlobals());

describe('followList: a live list', () => {
  it('resumes from the last resourceVersion after the watch ends, without listing again', async () => {
    let watches = 0;
    const asked = stubFetch((url) => {
      if (!url.includes('watch=1')) return list('10', pod('a', '9'));
      watches += 1;
      return watches === 1
        ? watchStream([{ type: 'ADDED', object: pod('b', '11') }, { type: 'BOOKMARK', object: pod('', '12') }])
        : watchStream([{ type: 'DELETED', object: pod('a', '13') }], true);
    });
    const r = recorder();
    const abort = new AbortController();
    const done = followList('prod', '/api/v1/pods?labelSelector=app%3Dweb', true, r.sink, abort.signal, { resumeMs: 0 });
    await r.until(() => r.changes.includes('DELETED a'));
    abort.abort();
    await done;
    expect(asked.map((a) => a.url)).toEqual([
      '/clusters/prod/api/v1/pods?labelSelector=app%3Dweb&limit=500',
      '/clusters/prod/api/v1/pods?labelSelector=app%3Dweb&resourceVersion=10&watch=1&allowWatchBookmarks=true',
      // The bookmark's resourceVersion, not the list's: nothing is replayed.
      '/clusters/prod/api/v1/pods?labelSelector=app%3Dweb&resourceVersion=12&watch=1&allowWatchBookmarks=true',
    ]);
    expect(r.resets).toEqual([1]);
    expect(r.changes).toEqual(['ADDED b', 'DELETED a']);
    expect(r.states).toEqual(['live', 'reconnecting', 'live']);
  });

  it('resumes a watch that ran a while and ended (the API server timeout) at once, without showing reconnecting', async () => {
    let watches = 0;
    stubFetch((url) => {
      if (!url.includes('watch=1')) return list('10');
      watches += 1;
      return watchStream([{ type: 'ADDED', object: pod(`w${watches}`, String(10 + watches)) }], watches > 1);
    });
    const r = recorder();
    const abort = new AbortController();
    const done = followList('prod', '/api/v1/pods', true, r.sink, abort.signal, { resumeMs: 60_000, quietAfterMs: 0 });
    await r.until(() => r.changes.length === 2);
    abort.abort();
    await done;
    expect(r.states).toEqual(['live', 'live']);
  });

  it('says reconnecting while the relay answers that the cluster is away, and resumes when it is back', async () => {
    let watches = 0;
    const asked = stubFetch((url) => {
      if (!url.includes('watch=1')) return list('5');
      watches += 1;
      if (watches === 1) return json({ kind: 'Status', code: 503, message: 'cluster prod is not connected' }, 503);
      return watchStream([{ type: 'ADDED', object: pod('c', '6') }], true);
    });
    const r = recorder();
    const abort = new AbortController();
    const done = followList('prod', '/api/v1/pods', true, r.sink, abort.signal, { resumeMs: 0 });
    await r.until(() => r.changes.length === 1);
    abort.abort();
    await done;
    expect(r.states).toEqual(['reconnecting', 'live']);
    expect(asked.filter((a) => !a.url.includes('watch=1'))).toHaveLength(1);
    expect(asked[2]!.url).toContain('resourceVersion=5&');
  });

  it('lists again only when the watch says 410 Gone', async () => {
    let lists = 0;
    let watches = 0;
    const asked = stubFetch((url) => {
      if (!url.includes('watch=1')) return list(String(100 * ++lists), pod(`p${lists}`, '1'));
      watches += 1;
      if (watches === 1) return watchStream([{ type: 'ERROR', object: { kind: 'Status', code: 410, reason: 'Expired', message: 'too old resource version: 100 (150)' } }]);
      return watchStream([], true);
    });
    const r = recorder();
    const abort = new AbortController();
    const done = followList('prod', '/api/v1/pods', true, r.sink, abort.signal, { resumeMs: 0 });
    await r.until(() => watches === 2 && r.states.at(-1) === 'live');
    abort.abort();
    await done;
    expect(r.resets).toEqual([1, 1]);
    expect(asked.map((a) => a.url.replace('/clusters/prod/api/v1/pods', ''))).toEqual([
      '?limit=500',
      '?resourceVersion=100&watch=1&allowWatchBookmarks=true',
      '?limit=500',
      '?resourceVersion=200&watch=1&allowWatchBookmarks=true',
    ]);
  });

  it('stops at a refusal and reports it (asking again would get the same answer)', async () => {
    const message = 'secrets is forbidden: User "hawser:carol" cannot list resource "secrets" in API group "" in the namespace "payments"';
    const asked = stubFetch(() => json({ kind: 'Status', code: 403, reason: 'Forbidden', message }, 403));
    const states: WatchState[] = [];
    await followList('prod-eu', '/api/v1/namespaces/payments/secrets', true, { reset: () => {}, change: () => {}, state: (s) => states.push(s) }, new AbortController().signal, { resumeMs: 0 });
    expect(asked).toHaveLength(1);
    expect(states).toHaveLength(1);
    expect(states[0]).toMatchObject({ kind: 'refused', error: { status: 403, message } });
  });

  it('lists page by page, and watches from the first page resourceVersion (the pages are one snapshot)', async () => {
    const asked = stubFetch((url) => {
      if (url.includes('watch=1')) return watchStream([], true);
      if (!url.includes('continue=')) return json({ metadata: { resourceVersion: '70', continue: 'tok/1' }, items: [pod('a', '1'), pod('b', '2')] });
      return json({ metadata: { resourceVersion: '70' }, items: [pod('c', '3')] });
    });
    const r = recorder();
    const abort = new AbortController();
    const done = followList('prod', '/api/v1/pods', true, r.sink, abort.signal, { resumeMs: 0 });
    await r.until(() => r.states.includes('live'));
    abort.abort();
    await done;
    expect(r.resets).toEqual([3]);
    expect(asked.map((a) => a.url.replace('/clusters/prod/api/v1/pods', ''))).toEqual([
      '?limit=500',
      '?limit=500&continue=tok%2F1',
      '?resourceVersion=70&watch=1&allowWatchBookmarks=true',
    ]);
  });

  it('lists once, without a watch, a kind that cannot be watched', async () => {
    const asked = stubFetch(() => list('3', pod('x', '3')));
    const states: WatchState['kind'][] = [];
    await followList('prod', '/api/v1/componentstatuses', false, { reset: () => {}, change: () => {}, state: (s) => states.push(s.kind) }, new AbortController().signal, { resumeMs: 0 });
    expect(asked).toHaveLength(1);
    expect(states).toEqual(['listed']);
  });
});
