import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readKubeconfig } from '../src/kubeconfig.js';

function kubeconfig(body: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'hawser-kc-'));
  writeFileSync(join(dir, 'ca.crt'), 'CA FROM FILE');
  writeFileSync(join(dir, 'token'), 'file-token\n');
  const path = join(dir, 'config');
  writeFileSync(path, body);
  return path;
}

const b64 = (s: string) => Buffer.from(s).toString('base64');

describe('the agent\'s kubeconfig reader (outside a pod)', () => {
  it('reads the current context: server, CA data, client certificate and key', () => {
    const path = kubeconfig(`apiVersion: v1
kind: Config
current-context: kind
clusters:
- name: kind-c
  cluster: { server: "https://127.0.0.1:6443", certificate-authority-data: ${b64('CA')}, tls-server-name: kubernetes }
users:
- name: kind-u
  user: { client-certificate-data: ${b64('CERT')}, client-key-data: ${b64('KEY')} }
contexts:
- name: kind
  context: { cluster: kind-c, user: kind-u }
`);
    const kc = readKubeconfig(path);
    expect(kc.server.href).toBe('https://127.0.0.1:6443/');
    expect(kc.ca?.toString()).toBe('CA');
    expect(kc.cert?.toString()).toBe('CERT');
    expect(kc.key?.toString()).toBe('KEY');
    expect(kc.serverName).toBe('kubernetes');
    expect(kc.token).toBeUndefined();
  });

  it('picks a named context and resolves relative files against the kubeconfig\'s directory', () => {
    const path = kubeconfig(`current-context: a
clusters:
- { name: c, cluster: { server: "https://127.0.0.1:1", certificate-authority: ca.crt } }
users:
- { name: u1, user: { token: inline } }
- { name: u2, user: { tokenFile: token } }
contexts:
- { name: a, context: { cluster: c, user: u1 } }
- { name: b, context: { cluster: c, user: u2 } }
`);
    expect(readKubeconfig(path).token).toBe('inline');
    const b = readKubeconfig(path, 'b');
    expect(b.token).toBe('file-token');
    expect(b.ca?.toString()).toBe('CA FROM FILE');
  });

  it('refuses what it does not do, saying why: exec plugins, skipped TLS verification, http, unknown names', () => {
    const head = 'current-context: a\ncontexts:\n- { name: a, context: { cluster: c, user: u } }\n';
    const cases: [string, RegExp][] = [
      [`${head}clusters:\n- { name: c, cluster: { server: "https://x:1" } }\nusers:\n- { name: u, user: { exec: { command: aws } } }\n`, /exec or auth-provider plugin/],
      [`${head}clusters:\n- { name: c, cluster: { server: "https://x:1", insecure-skip-tls-verify: true } }\nusers:\n- { name: u, user: { token: t } }\n`, /insecure-skip-tls-verify/],
      [`${head}clusters:\n- { name: c, cluster: { server: "http://x:1" } }\nusers:\n- { name: u, user: {} }\n`, /must be https/],
      [`${head}clusters: []\nusers: []\n`, /no cluster named "c"/],
      ['clusters: []\n', /no current-context/],
    ];
    for (const [body, message] of cases) expect(() => readKubeconfig(kubeconfig(body)), body).toThrow(message);
  });
});
