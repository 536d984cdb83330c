import { generateKeyPairSync } from 'node:crypto';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { connect } from 'node:tls';
import forge from 'node-forge';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorOf, isSuccess, requestJson } from '../src/index.js';

/** A self-signed certificate for 127.0.0.1. */
function selfSigned(): { key: string; cert: string } {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const key = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const forgeKey = forge.pki.privateKeyFromPem(key) as forge.pki.rsa.PrivateKey;
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.setRsaPublicKey(forgeKey.n, forgeKey.e);
  cert.serialNumber = '01';
  cert.validity.notBefore = new Date(Date.now() - 60_000);
  cert.validity.notAfter = new Date(Date.now() + 3_600_000);
  const subject = [{ name: 'commonName', value: '127.0.0.1' }];
  cert.setSubject(subject);
  cert.setIssuer(subject);
  cert.setExtensions([{ name: 'subjectAltName', altNames: [{ type: 7, ip: '127.0.0.1' }] }]);
  cert.sign(forgeKey, forge.md.sha256.create());
  return { key, cert: forge.pki.certificateToPem(cert) };
}

describe('requestJson', () => {
  const tls = selfSigned();
  let server: Server;
  let base: URL;
  const seen: { method: string; contentType: string | undefined; body: string }[] = [];

  beforeAll(async () => {
    server = createServer(tls, (req, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (d: string) => (body += d));
      req.on('end', () => {
        seen.push({ method: req.method ?? '', contentType: req.headers['content-type'], body });
        if (req.url === '/ok') return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ echo: body ? JSON.parse(body) : null }));
        if (req.url === '/refused') return void res.writeHead(403).end(JSON.stringify({ error: { code: 'HSR_ERR_CLUSTER_DEREGISTERED', message: 'cluster deregistered' } }));
        res.writeHead(502).end('<html>bad gateway</html>');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = new URL(`https://127.0.0.1:${(server.address() as AddressInfo).port}`);
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('sends JSON and reads JSON back, trusting the CA it is given', async () => {
    const res = await requestJson({ method: 'POST', url: new URL('/ok', base), body: { a: 1 }, ca: tls.cert, timeoutMs: 5_000 });
    expect(isSuccess(res)).toBe(true);
    expect(res.json).toEqual({ echo: { a: 1 } });
    expect(seen.at(-1)).toEqual({ method: 'POST', contentType: 'application/json', body: '{"a":1}' });
  });

  it('resolves a refusal with its error code, for the caller to act on', async () => {
    const res = await requestJson({ method: 'GET', url: new URL('/refused', base), ca: tls.cert, timeoutMs: 5_000 });
    expect(res.status).toBe(403);
    expect(errorOf(res)).toEqual({ code: 'HSR_ERR_CLUSTER_DEREGISTERED', message: 'cluster deregistered' });
  });

  it('keeps a body that is not JSON as text only', async () => {
    const res = await requestJson({ method: 'GET', url: new URL('/proxy-page', base), ca: tls.cert, timeoutMs: 5_000 });
    expect(res).toEqual({ status: 502, text: '<html>bad gateway</html>', json: undefined });
    expect(errorOf(res)).toBeUndefined();
  });

  it('rejects when the server is not trusted, and uses the connection it is handed', async () => {
    await expect(requestJson({ method: 'GET', url: new URL('/ok', base), timeoutMs: 5_000 })).rejects.toThrow(/self-signed|certificate/);
    let dialed = 0;
    const res = await requestJson({
      method: 'GET',
      url: new URL('/ok', base),
      timeoutMs: 5_000,
      createConnection: (_options, callback) => {
        dialed++;
        const socket = connect({ host: '127.0.0.1', port: Number(base.port), ca: tls.cert, ALPNProtocols: ['http/1.1'] });
        socket.once('secureConnect', () => callback(null, socket));
        socket.once('error', (err) => callback(err));
        return undefined;
      },
    });
    expect(dialed).toBe(1);
    expect(res.json).toEqual({ echo: null });
  });
});
