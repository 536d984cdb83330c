import { request } from 'node:https';

export interface RelayResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  json: Record<string, unknown> & { message?: string };
}

/**
 * One HTTPS request to Hawser's operator listener with a bearer token; the
 * answer's JSON parsed when it is JSON. A PATCH body goes as a merge patch.
 */
export function relayRequest(url: URL, ca: string, opts: { token: string; method?: string; body?: unknown }): Promise<RelayResponse> {
  const payload = opts.body === undefined ? undefined : JSON.stringify(opts.body);
  const contentType = opts.method === 'PATCH' ? 'application/merge-patch+json' : 'application/json';
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: opts.method ?? 'GET',
        ca,
        headers: { authorization: `Bearer ${opts.token}`, accept: 'application/json', ...(payload ? { 'content-type': contentType } : {}) },
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => {
          let json = {};
          try {
            json = JSON.parse(body || '{}');
          } catch {
            // not JSON
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body, json });
        });
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}
