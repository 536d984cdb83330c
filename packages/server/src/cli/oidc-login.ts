import { spawn } from 'node:child_process';
import { accessSync, constants, realpathSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { AdminClient } from '../admin/admin-client.js';
import type { CliIo } from './cli-io.js';
import { LoopbackRedirect } from './oidc-loopback.js';
import { idTokenClaims, pkceAttempt } from './oidc-pkce.js';
import { OidcProviderClient } from './oidc-provider-client.js';
import { defaultCacheDir, OidcTokenCache } from './oidc-token-cache.js';

/** What `hawser login --oidc` needs besides the server. */
export interface OidcLoginOptions {
  serverUrl: string;
  ca: string | undefined;
  /** Overrides the client id the server announces (a separate CLI client at the IdP). */
  clientId?: string | undefined;
  openBrowser: boolean;
  timeoutMs: number;
  /** 0: a free port. */
  callbackPort: number;
  /** Set only when not the default, so the kubeconfig does not pin the default. */
  cacheDir?: string | undefined;
  /** The kubeconfig's exec command; default: `hawser` when on PATH, else this CLI's path. */
  execCommand?: string | undefined;
}

/** What the sign-in gave: the ID token, and the exec plugin to write into the kubeconfig. */
export interface OidcSignIn {
  idToken: string;
  user: string;
  exec: { command: string; args: string[] };
}

function onPath(name: string, env: CliIo['env']): boolean {
  return (env.PATH ?? '').split(delimiter).some((dir) => {
    try {
      accessSync(join(dir, name), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/**
 * `hawser` when the shell finds it (what kubectl will run), else the path
 * of the running CLI (npx, a checkout): kubectl runs the plugin without
 * a shell, from its own PATH.
 */
function defaultExecCommand(env: CliIo['env']): string {
  if (onPath('hawser', env)) return 'hawser';
  const self = process.argv[1];
  try {
    if (self) {
      accessSync(self, constants.X_OK);
      return realpathSync(self);
    }
  } catch {
    // not executable by itself: fall back to the name
  }
  return 'hawser';
}

/** Asks the desktop to open `url`; a failure is silent, the URL is printed anyway. */
function openInBrowser(url: string): void {
  const [cmd, args] =
    process.platform === 'darwin' ? ['open', [url]] : process.platform === 'win32' ? ['cmd', ['/c', 'start', '""', url.replace(/&/g, '^&')]] : ['xdg-open', [url]];
  try {
    const child = spawn(cmd, args as string[], { stdio: 'ignore', detached: true });
    child.on('error', () => undefined);
    child.unref();
  } catch {
    // no desktop: the printed URL is the way
  }
}

/**
 * The browser half of `hawser login --oidc`, kubelogin's way: ask the
 * server which provider and client (GET /api/v1/operator/oidc), discover
 * the provider, listen on a loopback port, send the browser to the
 * authorization endpoint (or print the URL), take the code from the
 * redirect (state checked), exchange it with the PKCE verifier (nonce
 * checked), and cache the tokens (0600) for `hawser oidc-token`.
 */
export async function oidcSignIn(opts: OidcLoginOptions, io: CliIo): Promise<OidcSignIn> {
  const announced = await new AdminClient({ serverUrl: opts.serverUrl, adminToken: '', ca: opts.ca }).operatorOidc();
  const issuer = announced.issuer;
  const clientId = opts.clientId ?? announced.clientId;
  const provider = new OidcProviderClient(issuer, clientId);
  const endpoints = await provider.discover();
  const loopback = await LoopbackRedirect.listen(opts.callbackPort);
  let code: string;
  const attempt = pkceAttempt({ authorizationEndpoint: endpoints.authorizationEndpoint, clientId, redirectUri: loopback.redirectUri, scopes: announced.scopes });
  try {
    const arrived = loopback.code(attempt.state, opts.timeoutMs);
    io.stderr(`Sign in to ${issuer} in your browser${opts.openBrowser ? ' (opening it now)' : ''}:\n\n  ${attempt.url}\n\nWaiting for the redirect to ${loopback.redirectUri} ...\n`);
    if (opts.openBrowser) openInBrowser(attempt.url);
    code = await arrived;
  } finally {
    await loopback.close();
  }
  const tokens = await provider.exchangeCode(endpoints.tokenEndpoint, { code, verifier: attempt.verifier, redirectUri: attempt.redirectUri });
  const claims = idTokenClaims(tokens.idToken, { issuer, clientId, nonce: attempt.nonce });
  const cacheDir = opts.cacheDir ?? defaultCacheDir(io.env);
  new OidcTokenCache(cacheDir, issuer, clientId).write({ issuer, clientId, tokenEndpoint: endpoints.tokenEndpoint, idToken: tokens.idToken, refreshToken: tokens.refreshToken });
  if (!tokens.refreshToken) {
    io.stderr('hawser: warning: the provider issued no refresh token (offline_access not granted): kubectl will ask you to sign in again when the ID token expires\n');
  }
  const args = ['oidc-token', `--issuer=${issuer}`, `--client-id=${clientId}`, ...(opts.cacheDir ? [`--cache-dir=${opts.cacheDir}`] : [])];
  const user = typeof claims.email === 'string' ? claims.email : (claims.sub ?? 'unknown');
  return { idToken: tokens.idToken, user, exec: { command: opts.execCommand ?? defaultExecCommand(io.env), args } };
}
