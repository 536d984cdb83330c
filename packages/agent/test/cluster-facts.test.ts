import { Agent, createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readClusterFacts } from '../src/cluster-facts.js';

describe('readClusterFacts', () => {
  let server: Server;
  let url: URL;
  const log = pino({ level: 'silent' });
  beforeAll(async () => {
    // Plain HTTP on loopback: the target's own agent decides the transport.
    server = createServer((req, res) => {
      if (req.headers.authorization !== 'Bearer sa') return void res.writeHead(401).end('{}');
      if (req.url === '/version') return void res.writeHead(200).end(JSON.stringify({ gitVersion: 'v1.36.3' }));
      if (req.url === '/api/v1/namespaces/kube-system') return void res.writeHead(200).end(JSON.stringify({ metadata: { uid: 'uid-1' } }));
      res.writeHead(404).end('{}');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('reads the Kubernetes version and kube-system\'s uid with the ServiceAccount token', async () => {
    const facts = await readClusterFacts({ url, agent: new Agent() as never, authorization: () => 'Bearer sa' }, log);
    expect(facts).toEqual({ kubernetesVersion: 'v1.36.3', clusterUID: 'uid-1' });
  });

  it('reports nothing, without throwing, when the API server refuses or is not there', async () => {
    expect(await readClusterFacts({ url, agent: new Agent() as never, authorization: () => undefined }, log)).toEqual({});
    const closed = new URL('http://127.0.0.1:1');
    expect(await readClusterFacts({ url: closed, agent: new Agent() as never, authorization: () => undefined }, log)).toEqual({});
  });
});
