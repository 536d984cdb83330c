import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ErrorCodes, HawserServerError } from '../errors.js';
import { redirectCode } from './oidc-pkce.js';

const PAGE = (title: string, text: string) =>
  `<!doctype html><meta charset="utf-8"><title>${title}</title><body style="font:16px system-ui;margin:3em"><h1>${title}</h1><p>${text}</p>`;

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/**
 * The redirect target of a native-app sign-in (RFC 8252 7.3): an HTTP
 * listener on 127.0.0.1, on a port the OS picks, serving one path. Loopback
 * only, so nothing off this machine can reach it; it answers the first
 * redirect to /callback and then closes, so a code cannot be delivered twice.
 */
export class LoopbackRedirect {
  readonly #server: Server;
  readonly redirectUri: string;

  private constructor(server: Server) {
    this.#server = server;
    this.redirectUri = `http://127.0.0.1:${(server.address() as AddressInfo).port}/callback`;
  }

  /** Listens on 127.0.0.1:`port` (0: any free port). */
  static async listen(port = 0): Promise<LoopbackRedirect> {
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) =>
        reject(new HawserServerError(ErrorCodes.OIDC_LOGIN_FAILED, `cannot listen on 127.0.0.1:${port} for the sign-in redirect: ${err.code ?? err.message}`)),
      );
      server.listen(port, '127.0.0.1', resolve);
    });
    return new LoopbackRedirect(server);
  }

  /**
   * Resolves with the authorization code of the first redirect to
   * /callback whose state is `state`; rejects on any other state, on an
   * error from the provider, or when nothing came within `timeoutMs`. The
   * browser is told the outcome either way.
   */
  code(state: string, timeoutMs: number): Promise<string> {
    return new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new HawserServerError(ErrorCodes.OIDC_LOGIN_FAILED, `no sign-in arrived within ${Math.round(timeoutMs / 1000)} s; run the command again (--timeout sets the wait)`));
      }, timeoutMs);
      this.#server.on('request', (req, res) => {
        const url = new URL(req.url ?? '/', 'http://127.0.0.1');
        if (req.method !== 'GET' || url.pathname !== '/callback') {
          res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
          return;
        }
        clearTimeout(timer);
        res.setHeader('content-type', 'text/html; charset=utf-8');
        res.setHeader('cache-control', 'no-store');
        res.setHeader('connection', 'close');
        try {
          const code = redirectCode(url.searchParams, state);
          res.writeHead(200).end(PAGE('Signed in', 'You are signed in to Hawser. You can close this tab and return to the terminal.'));
          resolve(code);
        } catch (err) {
          res.writeHead(400).end(PAGE('Sign-in failed', escapeHtml((err as Error).message)));
          reject(err as Error);
        }
      });
    }).finally(() => this.close());
  }

  close(): Promise<void> {
    this.#server.closeIdleConnections();
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }
}
