/** How the kubeconfig's user authenticates to the Hawser relay. */
export type KubeconfigCredential =
  | { kind: 'token'; token: string }
  | { kind: 'oidc'; issuer: string; clientId: string; extraScopes?: string[] };

/**
 * A kubeconfig with one context per cluster, each pointing at the relay path
 * `https://SERVER/clusters/NAME` and trusting the Hawser CA. OIDC users get
 * an exec entry for the kubelogin plugin (`kubectl oidc-login`), so kubectl
 * fetches and refreshes ID tokens itself.
 */
export function buildKubeconfig(opts: { publicUrl: string; caBundle: readonly string[]; clusters: readonly string[]; credential: KubeconfigCredential }): string {
  const ca = Buffer.from(opts.caBundle.join('')).toString('base64');
  const user = 'hawser';
  const lines = ['apiVersion: v1', 'kind: Config', 'clusters:'];
  for (const name of opts.clusters) {
    lines.push(`- name: ${q(name)}`, '  cluster:', `    server: ${q(`${opts.publicUrl.replace(/\/$/, '')}/clusters/${encodeURIComponent(name)}`)}`, `    certificate-authority-data: ${q(ca)}`);
  }
  lines.push('contexts:');
  for (const name of opts.clusters) lines.push(`- name: ${q(name)}`, '  context:', `    cluster: ${q(name)}`, `    user: ${q(user)}`);
  lines.push('users:', `- name: ${q(user)}`, '  user:');
  if (opts.credential.kind === 'token') {
    lines.push(`    token: ${q(opts.credential.token)}`);
  } else {
    const c = opts.credential;
    lines.push(
      '    exec:',
      '      apiVersion: client.authentication.k8s.io/v1',
      '      command: kubectl',
      '      args:',
      '      - oidc-login',
      '      - get-token',
      `      - ${q(`--oidc-issuer-url=${c.issuer}`)}`,
      `      - ${q(`--oidc-client-id=${c.clientId}`)}`,
      ...(c.extraScopes ?? []).map((s) => `      - ${q(`--oidc-extra-scope=${s}`)}`),
      '      interactiveMode: IfAvailable',
      '      provideClusterInfo: false',
    );
  }
  lines.push(`current-context: ${q(opts.clusters[0] ?? '')}`, '');
  return lines.join('\n');
}

/** A YAML double-quoted scalar: JSON string syntax is valid YAML. */
function q(s: string): string {
  return JSON.stringify(s);
}
