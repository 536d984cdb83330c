import { readFileSync, readdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, extname, join } from 'node:path';
import type { FastifyInstance, FastifyReply } from 'fastify';

/**
 * What a console page may load and talk to: its own origin only. No inline
 * script, no eval, no framing by other sites, no form posts elsewhere.
 */
export const CONSOLE_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "font-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.woff2': 'font/woff2',
};

/** Client-side routes that get the page itself (deep links). */
const PAGE_PREFIXES = ['/fleet', '/c/', '/search', '/admin', '/admin/', '/sign-in'];

/** Where the built console is: @hawser/console's dist/, or undefined when it was not built. */
export function findConsoleAssets(): string | undefined {
  try {
    const pkg = createRequire(import.meta.url).resolve('@hawser/console/package.json');
    const dir = join(dirname(pkg), 'dist');
    return statSync(join(dir, 'index.html')).isFile() ? dir : undefined;
  } catch {
    return undefined;
  }
}

function security(reply: FastifyReply): FastifyReply {
  return reply
    .header('content-security-policy', CONSOLE_CSP)
    .header('x-content-type-options', 'nosniff')
    .header('referrer-policy', 'no-referrer')
    .header('x-frame-options', 'DENY')
    .header('cross-origin-opener-policy', 'same-origin');
}

/**
 * Serves the console's static files from memory (the bundle is small and
 * never changes while the server runs): hashed assets are cached for a
 * year, the page itself never.
 */
export function consoleAssets(dir: string) {
  const files = new Map<string, Buffer>();
  const walk = (sub: string) => {
    for (const name of readdirSync(join(dir, sub))) {
      const rel = sub ? `${sub}/${name}` : name;
      if (statSync(join(dir, rel)).isDirectory()) walk(rel);
      else files.set(`/${rel}`, readFileSync(join(dir, rel)));
    }
  };
  walk('');
  const page = files.get('/index.html')!;
  return async function routes(app: FastifyInstance): Promise<void> {
    const sendPage = (reply: FastifyReply) => security(reply).type(TYPES['.html']!).header('cache-control', 'no-store').send(page);
    app.get('/', async (_request, reply) => sendPage(reply));
    for (const prefix of PAGE_PREFIXES) {
      app.get(prefix.endsWith('/') ? `${prefix}*` : prefix, async (_request, reply) => sendPage(reply));
    }
    for (const [path, body] of files) {
      if (path === '/index.html') continue;
      app.get(path, async (_request, reply) =>
        security(reply)
          .type(TYPES[extname(path)] ?? 'application/octet-stream')
          .header('cache-control', path.startsWith('/assets/') ? 'public, max-age=31536000, immutable' : 'no-cache')
          .send(body),
      );
    }
  };
}
