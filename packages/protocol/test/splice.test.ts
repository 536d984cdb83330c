import { once } from 'node:events';
import { Duplex } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { splice } from '../src/index.js';

/** An in-memory end: what is written to it is kept; with `hold`, writes stay pending until released. */
function end(opts: { hold?: boolean } = {}) {
  const written: string[] = [];
  const pending: (() => void)[] = [];
  const duplex = new Duplex({
    read() {},
    write(chunk: Buffer, _enc, cb) {
      written.push(chunk.toString());
      if (opts.hold) pending.push(() => cb());
      else cb();
    },
  });
  return { duplex, written, release: () => pending.splice(0).forEach((cb) => cb()) };
}

describe('splice', () => {
  it('carries bytes both ways and passes a clean end on after what is queued', async () => {
    const client = end();
    const upstream = end();
    splice(client.duplex, upstream.duplex);
    client.duplex.push('stdin');
    upstream.duplex.push('output');
    upstream.duplex.push('exit 0');
    upstream.duplex.push(null);
    await once(client.duplex, 'finish');
    expect(client.written.join('')).toBe('outputexit 0');
    expect(upstream.written).toEqual(['stdin']);
    expect(client.duplex.destroyed).toBe(false);
  });

  it('still ends the client cleanly, status included, when the upstream errors after its own clean end (a write to an API server that already closed)', async () => {
    const client = end({ hold: true });
    const upstream = end();
    splice(client.duplex, upstream.duplex);
    upstream.duplex.push('exit 3');
    upstream.duplex.push(null);
    await once(upstream.duplex, 'end');
    // The status is still queued toward the client when the upstream fails.
    const closed = new Promise((resolve) => upstream.duplex.once('close', resolve));
    upstream.duplex.destroy(Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }));
    await closed;
    expect(client.duplex.destroyed).toBe(false);
    client.release();
    await once(client.duplex, 'finish');
    expect(client.written.join('')).toBe('exit 3');
  });

  it('destroys the client when the upstream closes before its end was read', async () => {
    const client = end();
    const upstream = end();
    splice(client.duplex, upstream.duplex);
    upstream.duplex.destroy();
    await once(client.duplex, 'close');
    expect(client.duplex.destroyed).toBe(true);
  });

  it('destroys the upstream at once when the client aborts', async () => {
    const client = end();
    const upstream = end();
    splice(client.duplex, upstream.duplex);
    client.duplex.destroy();
    await once(upstream.duplex, 'close');
    expect(upstream.duplex.writableFinished).toBe(false);
  });

  it('lets the last bytes of a client that ended cleanly reach the upstream before closing it', async () => {
    const client = end();
    const upstream = end({ hold: true });
    splice(client.duplex, upstream.duplex, { flushMs: 60_000 });
    client.duplex.push('last');
    client.duplex.push(null);
    client.duplex.end();
    await once(client.duplex, 'close');
    expect(upstream.duplex.destroyed).toBe(false);
    upstream.release();
    await once(upstream.duplex, 'close');
    expect(upstream.written).toEqual(['last']);
    expect(upstream.duplex.writableFinished).toBe(true);
  });

  it('destroys the upstream when the final flush misses its deadline', async () => {
    const client = end();
    const upstream = end({ hold: true });
    splice(client.duplex, upstream.duplex, { flushMs: 30 });
    client.duplex.push('stuck');
    client.duplex.push(null);
    client.duplex.end();
    await once(client.duplex, 'close');
    await once(upstream.duplex, 'close');
    expect(upstream.written).toEqual(['stuck']);
    expect(upstream.duplex.writableFinished).toBe(false);
  });
});
