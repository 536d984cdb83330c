import { createServer as createHttpServer, type Server } from 'node:http';
import { connect, createServer as createTcpServer, type AddressInfo, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { bypassesProxy, connectThroughProxy } from '../src/https-proxy.js';

describe('NO_PROXY', () => {
  it('matches hosts, subdomains, ports and *', () => {
    expect(bypassesProxy('hawser.example.com', 443, ['example.com'])).toBe(true);
    expect(bypassesProxy('hawser.example.com', 443, ['.example.com'])).toBe(true);
    expect(bypassesProxy('example.com', 443, ['*.example.com'])).toBe(true);
    expect(bypassesProxy('badexample.com', 443, ['example.com'])).toBe(false);
    expect(bypassesProxy('h', 8444, ['h:443'])).toBe(false);
    expect(bypassesProxy('h', 443, ['h:443'])).toBe(true);
    expect(bypassesProxy('::1', 1, ['[::1]'])).toBe(true);
    expect(bypassesProxy('anything', 1, ['*'])).toBe(true);
  });
});

describe('CONNECT through a proxy', () => {
  const closers: (() => void)[] = [];
  afterEach(() => closers.splice(0).forEach((c) => c()));

  function listen(server: Server | ReturnType<typeof createTcpServer>): Promise<number> {
    return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
  }

  it('tunnels bytes to the target through a CONNECT proxy on loopback', async () => {
    const echo = createTcpServer((s) => s.pipe(s));
    const echoPort = await listen(echo);
    const seen: string[] = [];
    const proxy = createHttpServer();
    proxy.on('connect', (req, client: Socket, head) => {
      seen.push(`${req.url} ${req.headers['proxy-authorization'] ?? ''}`);
      const [host, port] = req.url!.split(':');
      const upstream = connect(Number(port), host, () => {
        client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
        upstream.write(head);
        upstream.pipe(client);
        client.pipe(upstream);
      });
    });
    const proxyPort = await listen(proxy);
    closers.push(() => echo.close(), () => proxy.close());

    const socket = await connectThroughProxy(`http://u:p%40ss@127.0.0.1:${proxyPort}`, '127.0.0.1', echoPort);
    const reply = new Promise<string>((resolve) => socket.once('data', (d) => resolve(d.toString())));
    socket.write('ping');
    expect(await reply).toBe('ping');
    socket.destroy();
    expect(seen).toEqual([`127.0.0.1:${echoPort} Basic ${Buffer.from('u:p@ss').toString('base64')}`]);
  });

  it('fails with a clear error when the proxy refuses', async () => {
    const proxy = createHttpServer();
    proxy.on('connect', (_req, client: Socket) => client.end('HTTP/1.1 403 Forbidden\r\n\r\n'));
    const proxyPort = await listen(proxy);
    closers.push(() => proxy.close());
    await expect(connectThroughProxy(`http://127.0.0.1:${proxyPort}`, 'example.invalid', 443)).rejects.toMatchObject({
      code: 'HAG_ERR_PROXY_CONNECT_FAILED',
      message: expect.stringMatching(/refused CONNECT example.invalid:443: 403/),
    });
  });
});
