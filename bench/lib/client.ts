import http from 'node:http';
import type http2 from 'node:http2';

/** One way of reaching the upstream: direct, through the Hawser tunnel, or through HTTP/2-over-ws. */
export interface Requester {
  name: string;
  /** GET `path`, read the whole body; resolves with its length. */
  get(path: string): Promise<number>;
  /** GET `path` and deliver body chunks as they come, until closed. */
  open(path: string, onChunk: (chunk: Buffer) => void): OpenResponse;
}

export interface OpenResponse {
  pause(): void;
  resume(): void;
  close(): void;
  /** Resolves once response headers arrived. */
  started: Promise<void>;
  /** Resolves at the end of the body (or close). */
  done: Promise<void>;
}

/** `prefix` goes before every path (the relay's `/clusters/NAME`). */
export function http1Requester(name: string, agent: http.Agent, port: number, prefix = ''): Requester {
  return {
    name,
    get(path) {
      return new Promise((resolve, reject) => {
        const req = http.get({ host: '127.0.0.1', port, path: prefix + path, agent }, (res) => {
          let n = 0;
          res.on('data', (c: Buffer) => (n += c.length));
          res.on('end', () => resolve(n));
          res.on('error', reject);
        });
        req.on('error', reject);
      });
    },
    open(path, onChunk) {
      let req!: http.ClientRequest;
      let res: http.IncomingMessage | undefined;
      let paused = false;
      const started = new Promise<void>((resolveStarted, reject) => {
        req = http.get({ host: '127.0.0.1', port, path: prefix + path, agent }, (r) => {
          res = r;
          r.on('data', onChunk);
          r.on('error', () => {});
          if (paused) r.pause();
          resolveStarted();
        });
        req.on('error', reject);
      });
      started.catch(() => {});
      const done = new Promise<void>((resolve) => req.on('close', () => resolve()));
      return {
        started,
        done,
        pause: () => {
          paused = true;
          res?.pause();
        },
        resume: () => {
          paused = false;
          res?.resume();
        },
        close: () => req.destroy(),
      };
    },
  };
}

export function h2Requester(name: string, session: http2.ClientHttp2Session): Requester {
  return {
    name,
    get(path) {
      return new Promise((resolve, reject) => {
        const stream = session.request({ ':path': path, ':method': 'GET' }, { endStream: true });
        let n = 0;
        stream.on('data', (c: Buffer) => (n += c.length));
        stream.on('end', () => resolve(n));
        stream.on('error', reject);
      });
    },
    open(path, onChunk) {
      const stream = session.request({ ':path': path, ':method': 'GET' }, { endStream: true });
      stream.on('error', () => {});
      const started = new Promise<void>((resolve) => stream.once('response', () => resolve()));
      stream.on('data', onChunk);
      const done = new Promise<void>((resolve) => stream.on('close', () => resolve()));
      return { started, done, pause: () => stream.pause(), resume: () => stream.resume(), close: () => stream.close() };
    },
  };
}
