import { createServer, Agent as HttpsAgent, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { REQUEST_HEAD_CAPABILITY, ResponseHeadReader, encodeRequestHead, type ResponseHead } from '@hawser/contract';
import { createMemoryTransportPair, Session, type TunnelStream } from '@hawser/protocol';
import { Policy, Relay } from '../src/index.js';
import { createCertificate } from '../../../test/controlplane/pki.js';

/**
 * An upgrade (exec, attach, port-forward) the API server answers with a 403
 * because of the agent's own rights: the agent says so in the operator's
 * terms (own-refusal.ts), as for a plain request, instead of passing on a
 * Status that names its ServiceAccount and an impersonation verb.
 */
const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

const API_MESSAGE =
  'pods "shell" is forbidden: User "system:serviceaccount:hawser-system:hawser-agent" cannot impersonate-on:user-info:create resource "pods/exec" in API group "" in the namespace "default"';

async function refusingUpstream(): Promise<{ url: URL; agent: HttpsAgent }> {
  const tls = createCertificate({ subject: { cn: 'upstream' }, serverNames: { ip: ['127.0.0.1'] } });
  // Node answers an upgrade request with the 'request' handler when no 'upgrade' listener exists.
  const server: Server = createServer({ ...tls }, (_req, res) => {
    const body = JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: API_MESSAGE, reason: 'Forbidden', details: { name: 'shell', kind: 'pods' }, code: 403 });
    res.writeHead(403, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const agent = new HttpsAgent({ ca: tls.cert });
  cleanup.push(() => new Promise((resolve) => {
    agent.destroy();
    server.closeAllConnections();
    server.close(resolve);
  }));
  return { url: new URL(`https://127.0.0.1:${(server.address() as AddressInfo).port}`), agent };
}

describe('a refused upgrade', () => {
  it("is answered in the operator's terms when the API server refuses the agent's own rights", async () => {
    const upstream = await refusingUpstream();
    const [agentSide, serverSide] = createMemoryTransportPair();
    const agentSession = new Session(agentSide, { role: 'client', software: 'hawser-agent/test', capabilities: [REQUEST_HEAD_CAPABILITY] });
    const serverSession = new Session(serverSide, { role: 'server', software: 'hawser-server/test' });
    await Promise.all([agentSession.ready, serverSession.ready]);
    cleanup.push(() => agentSession.destroy(), () => serverSession.destroy());
    const relay = new Relay({
      target: { url: upstream.url, agent: upstream.agent, authorization: () => 'Bearer agent-sa-token' },
      policy: new Policy({ mode: 'full', authzMode: 'tier', impersonationPrefix: 'hawser:', denyResources: [] }),
      log: pino({ level: 'silent' }),
    });
    agentSession.on('stream', (s: TunnelStream) => relay.accept(s));
    const stream = serverSession.openStream(
      encodeRequestHead({
        v: 1,
        method: 'POST',
        target: '/api/v1/namespaces/default/pods/shell/exec?command=sh',
        headers: [['x-stream-protocol-version', 'v4.channel.k8s.io']],
        identity: { user: 'hawser:alice', groups: ['hawser:tier:admin'] },
        requestId: 'r-1',
        bodyLength: 0,
        upgrade: 'SPDY/3.1',
      }),
    );
    stream.end();
    const reader = new ResponseHeadReader();
    const chunks: Buffer[] = [];
    let head: ResponseHead | undefined;
    stream.on('data', (d: Buffer) => {
      if (head) return void chunks.push(d);
      const got = reader.push(d);
      if (got) {
        head = got.head;
        chunks.push(got.rest);
      }
    });
    await new Promise<void>((resolve) => stream.once('end', () => resolve()));
    expect(head?.status).toBe(403);
    expect(head?.headers).toContainEqual(['x-hawser-error', 'HAG_ERR_AGENT_RBAC_DENIED']);
    const status = JSON.parse(Buffer.concat(chunks).toString()) as { kind: string; reason: string; message: string; details: { causes: { reason: string; message: string }[] } };
    expect(status).toMatchObject({ kind: 'Status', reason: 'Forbidden', code: 403 });
    expect(status.message).toBe(
      `hawser-agent's chart does not grant "create" on resource "pods/exec" in API group "" through Hawser; the chart value agent.mode sets the verbs it grants (read-only: get, list, watch; read-write and full add create, update, patch, delete) and must match the agent's own mode: the API server refused the agent's ServiceAccount system:serviceaccount:hawser-system:hawser-agent "impersonate-on:user-info:create" on resource "pods/exec" in API group ""`,
    );
    expect(status.details.causes).toContainEqual({ reason: 'APIServerMessage', message: API_MESSAGE });
  });
});
