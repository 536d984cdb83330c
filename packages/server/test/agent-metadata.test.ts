import { Session, fromWebSocket } from '@hawser/protocol';
import type { WebSocket } from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../src/cli/cli-main.js';
import { printable, printableJson, table } from '../src/cli/cli-table.js';
import { checkAgentHello } from '../src/tunnel/agent-metadata.js';
import { addCluster, httpsJson, openTunnel, register, registeredAgent, startServer } from './support/harness.js';
import type { Harness, Registered } from './support/harness.js';

let h: Harness;
beforeAll(async () => {
  h = await startServer();
}, 60_000);
afterAll(async () => {
  await h?.stop();
});

async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main([...args, '--server', h.publicUrl, '--data-dir', h.dataDir], {
    stdout: (t) => (out += t),
    stderr: (t) => (err += t),
    env: {},
  });
  return { code, out, err };
}

/** Connects as `agent` with this HELLO; resolves with how the server closed the tunnel (or 'open' once ready). */
async function hello(agent: Registered, software: string, metadata: Record<string, string>): Promise<{ code: number; reason: string } | 'ready'> {
  const out = await openTunnel(h, { cert: agent.certificate, key: agent.keyPem });
  if (out.kind !== 'open') throw new Error(`tunnel refused: ${out.status} ${out.body}`);
  const ws: WebSocket = out.ws;
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    ws.once('close', (code: number, reason: Buffer) => resolve({ code, reason: reason.toString() })),
  );
  const session = new Session(fromWebSocket(ws), { role: 'client', software, metadata });
  session.on('stream', (s: { destroy(): void }) => s.destroy());
  await session.ready.catch(() => undefined);
  // Ready on our side says nothing of admission: wait until the server
  // either closes or lists the cluster as connected with our version.
  const admitted = (async () => {
    for (;;) {
      const res = await httpsJson<{ cluster: { agentVersion: string | null; status: string } }>(
        `${h.publicUrl}/api/v1/clusters/${agent.clusterName}`,
        { ca: h.ca, token: h.adminToken },
      );
      if (res.body.cluster.status === 'connected' && res.body.cluster.agentVersion === software.replace(/^hawser-agent\//, '')) return 'ready' as const;
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  const result = await Promise.race([closed, admitted]);
  session.destroy();
  ws.terminate();
  return result;
}

describe('agent metadata', () => {
  it('refuses a HELLO whose version has escape sequences and a newline, with 4400 and a clear reason, and never stores or prints it', async () => {
    const agent = await registeredAgent(h, 'meta-escape');
    const forged = 'hawser-agent/1.0\u001b[2J\u009b31m\u001b[31m\nprod-forged  connected  2026-01-01  9.9.9';
    const result = await hello(agent, forged, { clusterUid: '1b4e28ba-2fa1-11d2-883f-0016d3cca427' });
    expect(result).toEqual({ code: 4400, reason: 'HSR_ERR_AGENT_METADATA_INVALID: agent metadata refused: software has characters other than printable ASCII' });

    const list = await cli(['cluster', 'list']);
    expect(list.code).toBe(0);
    expect(list.out).not.toContain('\u001b');
    expect(list.out).not.toContain('prod-forged');
    expect(list.out.trim().split('\n')).toHaveLength(2);
    const refused = await httpsJson<{ events: { type: string; reason: string }[] }>(`${h.publicUrl}/api/v1/audit?type=agent.refused`, { ca: h.ca, token: h.adminToken });
    expect(refused.body.events.map((e) => e.reason)).toContain('HSR_ERR_AGENT_METADATA_INVALID');
    const logged = h.logs.lines.find((l) => l.msg === 'agent tunnel refused');
    expect(logged?.code).toBe('HSR_ERR_AGENT_METADATA_INVALID');
    // The log names what was refused, escaped: no control character reaches it raw.
    // eslint-disable-next-line no-control-regex
    expect(String(logged?.software)).not.toMatch(/[\u0000-\u001f\u007f-\u009f]/);
    expect(String(logged?.software)).toContain('\\x1b[2J');
  });

  it('refuses over-long metadata values and non-identifier keys', () => {
    expect(checkAgentHello({ software: 'x'.repeat(129), capabilities: [], metadata: {} })).toMatch(/longer than 128/);
    expect(checkAgentHello({ software: 'a', capabilities: ['exec\n'], metadata: {} })).toMatch(/capability/);
    expect(checkAgentHello({ software: 'a', capabilities: [], metadata: { 'k\u202e': 'v' } })).toMatch(/metadata key/);
    expect(checkAgentHello({ software: 'a', capabilities: [], metadata: { clusterUid: 'a b' } })).toMatch(/clusterUid/);
    expect(checkAgentHello({ software: 'a', capabilities: [], metadata: { mode: 'Full; drop' } })).toMatch(/mode is not a mode name/);
    expect(checkAgentHello({ software: 'a', capabilities: [], metadata: { chartVersion: '0.1.0 beta' } })).toMatch(/chartVersion/);
    expect(checkAgentHello({ software: 'hawser-agent/0.1.0', capabilities: ['exec'], metadata: { clusterUid: '1b4e28ba-2fa1-11d2-883f-0016d3cca427', kubernetesVersion: 'v1.31.0+k3s1', mode: 'impersonate' } })).toBeUndefined();
  });

  it('stores the mode and chart version each HELLO reports, so a raised and a lowered agent both show (admin API and cluster list)', async () => {
    const agent = await registeredAgent(h, 'meta-mode');
    const view = async () =>
      (await httpsJson<{ cluster: { agentMode: string | null; chartVersion: string | null } }>(`${h.publicUrl}/api/v1/clusters/meta-mode`, { ca: h.ca, token: h.adminToken })).body.cluster;
    expect(await view()).toMatchObject({ agentMode: null, chartVersion: null });
    expect(await hello(agent, 'hawser-agent/0.1.0', { mode: 'read-only', chartVersion: '0.1.0' })).toBe('ready');
    await eventually(async () => expect(await view()).toMatchObject({ agentMode: 'read-only', chartVersion: '0.1.0' }));
    expect(await hello(agent, 'hawser-agent/0.1.0', { mode: 'full', chartVersion: '0.2.0' })).toBe('ready');
    await eventually(async () => expect(await view()).toMatchObject({ agentMode: 'full', chartVersion: '0.2.0' }));
    expect(await hello(agent, 'hawser-agent/0.1.0', { mode: 'read-only' })).toBe('ready');
    await eventually(async () => expect(await view()).toMatchObject({ agentMode: 'read-only', chartVersion: null }));
  });

  it('fixes a cluster uid at first connection and refuses a later tunnel reporting another, with 4412, audited', async () => {
    const agent = await registeredAgent(h, 'meta-uid');
    expect(await hello(agent, 'hawser-agent/0.1.0', { clusterUid: 'aaaaaaaa-0000-0000-0000-000000000001' })).toBe('ready');
    const result = await hello(agent, 'hawser-agent/0.1.1', { clusterUid: 'bbbbbbbb-0000-0000-0000-000000000002' });
    expect(result).toEqual({ code: 4412, reason: 'HSR_ERR_CLUSTER_UID_CHANGED: cluster uid differs from the one recorded for this cluster' });
    const view = await httpsJson<{ cluster: { clusterUID: string; agentVersion: string } }>(`${h.publicUrl}/api/v1/clusters/meta-uid`, { ca: h.ca, token: h.adminToken });
    expect(view.body.cluster.clusterUID).toBe('aaaaaaaa-0000-0000-0000-000000000001');
    expect(view.body.cluster.agentVersion).toBe('0.1.0');
    const refused = await httpsJson<{ events: { reason: string; details: Record<string, unknown> }[] }>(`${h.publicUrl}/api/v1/audit?type=agent.refused&cluster=meta-uid`, { ca: h.ca, token: h.adminToken });
    expect(refused.body.events).toHaveLength(1);
    expect(refused.body.events[0]!.details.reportedUid).toBe('bbbbbbbb-0000-0000-0000-000000000002');
  });

  it('refuses registration fields with control characters before the bootstrap token is used', async () => {
    const added = await addCluster(h, 'meta-register');
    const bad = await register(h, added.bootstrap.token, { agentVersion: '1.0\u001b]0;pwned\u0007' });
    expect(bad.status).toBe(400);
    expect(JSON.stringify(bad.body)).toContain('HSR_ERR_AGENT_METADATA_INVALID');
    const good = await register(h, added.bootstrap.token, { agentVersion: '1.0' });
    expect(good.status).toBe(200);
  });

  it('prints every unsafe character the CLI receives as a visible escape', () => {
    expect(printable('a\u001b[31mb\r\nc\u009bd\u202ee')).toBe('a\\x1b[31mb\\x0d\\x0ac\\x9bd\\u202ee');
    expect(table([['A'], ['x\ny']])).toBe('A\nx\\x0ay\n');
    expect(JSON.parse(printableJson({ v: 'a\u009b\u2028b' }))).toEqual({ v: 'a\u009b\u2028b' });
    expect(printableJson({ v: 'a\u009b' })).not.toContain('\u009b');
  });
});

/** Retries `check` until it passes (the store is written after the HELLO is admitted), for up to 10 s. */
async function eventually(check: () => Promise<void>): Promise<void> {
  const until = Date.now() + 10_000;
  for (;;) {
    try {
      return await check();
    } catch (err) {
      if (Date.now() > until) throw err;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}
