import { readFile } from 'node:fs/promises';
import { connect } from 'node:tls';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addCluster, agentReadiness, deployAgent, eventually, startServer, type TestAgent, type TestServer } from '../support/hawser.js';
import { createNamespace, uniqueName } from '../support/kube.js';
import { testCluster } from '../support/test-cluster.js';

interface CaStatus {
  rotating: boolean;
  signer: { hash: string };
  previous: { hash: string } | null;
  serving: 'signer' | 'previous';
  clusters: { name: string; holds: 'current' | 'previous' | 'none'; connected: boolean }[];
  waitingFor: string[];
}

/**
 * Issue 20, CA rotation, on the real path: the real `hawser server` process
 * with short certificate lifetimes, two real agents installed from the chart
 * against the real API server, one of them offline during the rotation.
 */
describe.skipIf(testCluster().external)('rotating the server CA', () => {
  let server: TestServer;
  let online: TestAgent;
  let offline: TestAgent;
  const names = { online: uniqueName('ca-on'), offline: uniqueName('ca-off') };
  const cleanup: (() => Promise<unknown>)[] = [];

  async function json<T>(args: string[]): Promise<T> {
    const res = await server.cli([...args, '-o', 'json']);
    if (res.code !== 0) throw new Error(`hawser ${args.join(' ')} failed (${res.code}): ${res.stderr}`);
    return JSON.parse(res.stdout) as T;
  }
  const status = () => json<CaStatus>(['ca', 'status']);
  const holds = (s: CaStatus, name: string) => s.clusters.find((c) => c.name === name)?.holds;
  const tunnelDrops = (agent: TestAgent) => agent.process.lines.filter((l) => l.includes('"tunnel down"')).length;

  /** A fresh TLS handshake with the agent listener, trusting only `ca`: does the serving certificate chain to it? */
  function servingTrustedBy(ca: string): Promise<boolean> {
    const url = new URL(server.agentUrl);
    return new Promise((resolve) => {
      const socket = connect({ host: url.hostname, port: Number(url.port), ca, servername: undefined, rejectUnauthorized: true }, () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
  }

  async function install(name: string): Promise<TestAgent> {
    const ns = await createNamespace();
    cleanup.push(() => ns.remove());
    const { token } = await addCluster(server, name);
    const agent = await deployAgent({ namespace: ns.name, server, token });
    cleanup.push(() => agent.remove());
    await eventually(async () => expect((await agentReadiness(agent)).body.status).toBe('connected'), 30_000);
    return agent;
  }

  beforeAll(async () => {
    // Five minutes: the offline agent's certificate must outlive its absence;
    // renewals still happen on schedule during the test (backdated notBefore).
    server = await startServer({ args: ['--certificate-ttl', '5m'] });
    online = await install(names.online);
    offline = await install(names.offline);
  }, 180_000);
  afterAll(async () => {
    for (const c of cleanup.reverse()) await c().catch(() => undefined);
    await server?.remove();
  });

  it('moves every agent to a new CA without dropping a tunnel; an agent offline during the rotation is still accepted, renews, and then the old CA retires', async () => {
    const oldCa = await readFile(join(server.dataDir, 'ca.crt'), 'utf8');
    await offline.stop();

    const rotated = await json<CaStatus>(['ca', 'rotate']);
    expect(rotated.rotating).toBe(true);
    expect(rotated.previous?.hash).toBe(server.caHash);
    expect(rotated.serving).toBe('previous');

    // The connected agent is asked to renew at once and gets the new CA's certificate and bundle.
    await eventually(async () => expect(holds(await status(), names.online)).toBe('current'), 30_000, 250);
    const waiting = await status();
    expect(waiting.waitingFor).toEqual([names.offline]);
    expect(waiting.serving).toBe('previous');
    expect(await servingTrustedBy(oldCa)).toBe(true);

    const blocked = await server.cli(['ca', 'retire']);
    expect(blocked.code).toBe(1);
    expect(blocked.stderr).toContain('HSR_ERR_CA_RETIRE_BLOCKED');
    expect(blocked.stderr).toContain(names.offline);

    // The agent that was away comes back with its old-CA certificate: accepted, asked to renew.
    offline = await offline.restart();
    await eventually(async () => expect((await agentReadiness(offline)).body.status).toBe('connected'), 30_000);
    await offline.process.waitForLog((e) => e.msg === 'client certificate renewed', 30_000);

    // Nobody needs the old CA any more: the serving certificate moves by itself.
    const moved = await eventually(async () => {
      const s = await status();
      expect(s.serving).toBe('signer');
      return s;
    }, 30_000, 250);
    expect(moved.waitingFor).toEqual([]);
    const newCa = (await readFile(join(server.dataDir, 'ca.crt'), 'utf8')).split('-----END CERTIFICATE-----')[0] + '-----END CERTIFICATE-----\n';
    expect(await servingTrustedBy(newCa)).toBe(true);

    const retired = await json<{ status: CaStatus; cutOff: string[] }>(['ca', 'retire']);
    expect(retired.cutOff).toEqual([]);
    expect(retired.status.rotating).toBe(false);
    expect(await servingTrustedBy(oldCa.split('-----END CERTIFICATE-----')[0] + '-----END CERTIFICATE-----\n')).toBe(false);

    // Both tunnels are still the ones from before: the online agent never lost its tunnel.
    expect(tunnelDrops(online)).toBe(0);
    expect((await agentReadiness(online)).body.status).toBe('connected');
    expect((await agentReadiness(offline)).body.status).toBe('connected');
    const disconnects = await json<{ events: { type: string }[] }>(['audit', '--cluster', names.online, '--type', 'agent.disconnected']);
    expect(disconnects.events).toEqual([]);
  }, 240_000);

  it('a forced retire names the clusters it cuts off; the agent that was away then says what to do', async () => {
    await offline.stop();
    await json<CaStatus>(['ca', 'rotate']);
    await eventually(async () => expect(holds(await status(), names.online)).toBe('current'), 30_000, 250);

    const forced = await json<{ status: CaStatus; cutOff: string[] }>(['ca', 'retire', '--force']);
    expect(forced.cutOff).toEqual([names.offline]);
    expect(forced.status.serving).toBe('signer');
    const audit = await json<{ events: { details: Record<string, unknown> }[] }>(['audit', '--type', 'ca.retired']);
    expect(audit.events.some((e) => e.details.forced === true)).toBe(true);

    offline = await offline.restart();
    const refusal = await offline.process.waitForLog((e) => String(e.err ?? e.msg ?? '').includes('HAG_ERR_SERVER_UNTRUSTED') || e.code === 'HAG_ERR_SERVER_UNTRUSTED' || String(e.err ?? '').includes('does not trust'), 60_000);
    expect(JSON.stringify(refusal)).toContain('register again');
    expect((await agentReadiness(offline)).body.status).not.toBe('connected');
    // The agent that renewed in time keeps its tunnel.
    expect(tunnelDrops(online)).toBe(0);
    expect((await agentReadiness(online)).body.status).toBe('connected');
  }, 180_000);
});
