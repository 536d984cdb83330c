import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { until } from '../../../test/support/eventually.js';
import { startRelayPair } from './support/relay-pair.js';

/**
 * Found by the relay fuzzer (packages/server/fuzz): Node never emits 'close'
 * on the response of a pipelined request that is still queued behind an
 * earlier one when the client leaves, so a relay that only watched the
 * response kept that request's tunnel stream, and its API server request
 * (a watch, say), open until the response timeout.
 */
const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

describe('a pipelined request whose client leaves', () => {
  it('ends its tunnel stream and is audited as 499 at once, not at the response timeout', async () => {
    const pair = await startRelayPair(cleanup, { responseTimeoutMs: 30_000 });
    const get = (path: string): string => `GET /clusters/prod${path} HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer alice\r\n\r\n`;
    const socket = connect(pair.port, '127.0.0.1');
    socket.on('error', () => {});
    // The stand-in never answers /hang: the second request waits behind the first.
    socket.write(get('/hang') + get('/hang/watch'));
    await until(() => pair.upstream.seen.length === 2, 'both requests reach the API server');
    socket.destroy();
    await until(() => pair.audit.length === 2, 'both requests are audited', 3_000);
    expect(pair.audit.map((e) => e.status)).toEqual([499, 499]);
    await until(() => pair.agentStreams.every((s) => s.destroyed), 'every tunnel stream is closed', 3_000);
  });
});
