import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { Reconnector, Session, fromWebSocket, type Transport, type TunnelStream } from '@hawser/protocol';
import { AgentPaths, ERROR_CODE_HEADER, TunnelCloseCodes, meansDeregistered } from '@hawser/contract';
import { WebSocket } from 'ws';
import { readBootstrapToken } from './bootstrap-token.js';
import { readClusterFacts } from './cluster-facts.js';
import type { AgentConfig } from './config.js';
import { DirStateStore } from './dir-state-store.js';
import { AgentError, AgentErrorCodes } from './errors.js';
import { HealthServer } from './health-server.js';
import { KubeTarget } from './kube-target.js';
import type { Logger } from './log.js';
import { Policy } from './policy.js';
import { register, renew, type AgentFacts } from './registration.js';
import { Relay } from './relay.js';
import { SecretStateStore } from './secret-state-store.js';
import { REQUEST_HEAD_CAPABILITY } from '@hawser/contract';
import { discoverServerCA, serverConnector } from './server-connection.js';
import type { AgentState, StateStore } from './state-store.js';

export const AGENT_VERSION: string = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/** Knobs tests turn; production uses the defaults. */
export interface AgentTimings {
  /** Retry interval once deregistered or without a usable identity. Default 10 min. */
  slowRetryMs: number;
  /** First reconnect delay. Default 500 ms (then exponential with full jitter, capped at 30 s). */
  reconnectBaseMs: number;
  reconnectMaxMs: number;
}

const defaultTimings: AgentTimings = { slowRetryMs: 10 * 60_000, reconnectBaseMs: 500, reconnectMaxMs: 30_000 };

/** Seams for unit tests; production passes none. */
export interface AgentSeams {
  /** Opens the tunnel's transport instead of a WebSocket to `url` (tests hand over one end of an in-memory pair). */
  dialTransport?: (url: URL, state: AgentState) => Transport;
}

/**
 * hawser-agent: registers once with a bootstrap token, then keeps one tunnel
 * to the server open for good, serving each stream the server opens as an
 * HTTP request relayed to the local API server under the agent's policy.
 */
export class Agent {
  readonly #config: AgentConfig;
  readonly #log: Logger;
  readonly #timings: AgentTimings;
  readonly #seams: AgentSeams;
  readonly #health = new HealthServer();
  #target: KubeTarget | undefined;
  #store: StateStore | undefined;
  #relay: Relay | undefined;
  #state: AgentState | undefined;
  #facts: AgentFacts = { agentVersion: AGENT_VERSION };
  #reconnector: Reconnector | undefined;
  #renewTimer: NodeJS.Timeout | undefined;
  #slowTimer: NodeJS.Timeout | undefined;
  #deregistered = false;
  #stopped = false;
  #usedToken: string | undefined;

  constructor(config: AgentConfig, log: Logger, timings: Partial<AgentTimings> = {}, seams: AgentSeams = {}) {
    this.#config = config;
    this.#log = log;
    this.#timings = { ...defaultTimings, ...timings };
    this.#seams = seams;
  }

  get health(): HealthServer {
    return this.#health;
  }

  /** Starts the health endpoints, loads or obtains an identity, and connects. */
  async start(): Promise<{ healthPort: number }> {
    const addr = await this.#health.listen(this.#config.healthAddr.host, this.#config.healthAddr.port);
    this.#log.info({ health: `${addr.address}:${addr.port}`, mode: this.#config.mode, authzMode: this.#config.authzMode }, 'hawser-agent starting');
    this.#target = await KubeTarget.load(this.#config.kube);
    this.#store =
      this.#config.state.kind === 'secret'
        ? new SecretStateStore(this.#target, this.#config.state.namespace, this.#config.state.name)
        : new DirStateStore(this.#config.state.path);
    this.#relay = new Relay({
      target: this.#target,
      policy: new Policy(this.#config),
      log: this.#log.child({ component: 'relay' }),
    });
    this.#facts = { agentVersion: AGENT_VERSION, ...(await readClusterFacts(this.#target, this.#log)) };
    await this.#establish();
    return { healthPort: addr.port };
  }

  /** Identity first (stored, or registered with a token), then the tunnel. */
  async #establish(): Promise<void> {
    if (this.#stopped) return;
    try {
      this.#state = await this.#store!.load();
      if (this.#state?.deregisteredAt && !(await this.#hasFreshToken())) {
        return this.#parkDeregistered('the server deregistered this cluster earlier');
      }
      if (this.#state && !this.#state.deregisteredAt && !isExpired(this.#state)) {
        this.#log.info({ clusterId: this.#state.clusterId, cluster: this.#state.clusterName, state: this.#store!.description }, 'using stored identity');
      } else {
        if (this.#state && isExpired(this.#state)) {
          this.#log.warn({ notAfter: this.#state.notAfter }, 'the stored certificate has expired; registering again needs a new bootstrap token');
        }
        await this.#register();
      }
    } catch (err) {
      return this.#parkUntilFixed(err);
    }
    this.#scheduleRenewal();
    this.#connect();
  }

  async #register(): Promise<void> {
    const token = await this.#readToken();
    if (!token) {
      const expired = this.#state && isExpired(this.#state);
      throw new AgentError(
        expired ? AgentErrorCodes.CERTIFICATE_EXPIRED : AgentErrorCodes.NO_IDENTITY,
        expired
          ? `the client certificate expired at ${this.#state!.notAfter} and there is no bootstrap token to register again: mint one with "hawser cluster token NAME"`
          : `no stored identity in ${this.#store!.description} and no bootstrap token at ${this.#config.bootstrapTokenFile}: install the chart with bootstrap.token`,
      );
    }
    const claims = readBootstrapToken(token);
    if (this.#config.caHash && this.#config.caHash !== claims.cah) {
      throw new AgentError(AgentErrorCodes.SERVER_CA_MISMATCH, `the configured CA hash ${this.#config.caHash} differs from the token's ${claims.cah}: refusing to register`);
    }
    if (claims.exp * 1000 < Date.now()) {
      throw new AgentError(AgentErrorCodes.REGISTRATION_REFUSED, `the bootstrap token expired at ${new Date(claims.exp * 1000).toISOString()}: mint a new one with "hawser cluster token NAME"`);
    }
    const serverUrl = this.#config.serverUrl ?? claims.url;
    this.#health.set({ ready: false, status: 'registering' });
    this.#log.info({ server: serverUrl, cluster: claims.cnm, caHash: claims.cah }, 'registering with the server');
    const serverCA = await discoverServerCA(new URL(serverUrl), claims.cah, this.#config.proxy);
    this.#usedToken = token;
    this.#state = await register({ serverUrl, token, serverCA, proxy: this.#config.proxy, facts: this.#facts });
    await this.#store!.save(this.#state);
    this.#log.info({ clusterId: this.#state.clusterId, cluster: this.#state.clusterName, notAfter: this.#state.notAfter, state: this.#store!.description }, 'registered');
  }

  #connect(): void {
    this.#deregistered = false;
    this.#reconnector = new Reconnector({
      connect: (signal) => this.#dial(signal),
      backoff: { baseMs: this.#timings.reconnectBaseMs, maxMs: this.#timings.reconnectMaxMs },
      shouldRetry: () => !this.#deregistered && !this.#stopped,
    });
    this.#reconnector.on('session', (session: Session) => {
      this.#health.set({ ready: true, status: 'connected' });
      this.#log.info({ server: this.#state?.serverUrl, peer: session.peer?.software }, 'tunnel up');
      void session.closed.then((err) => {
        if (this.#stopped) return;
        this.#health.set({ ready: false, status: 'disconnected', ...(err ? { detail: err.message } : {}) });
        this.#log.warn({ err: err?.message }, 'tunnel down');
      });
    });
    this.#reconnector.on('retry', (err: unknown, delayMs: number) => {
      this.#log.info({ err: (err as Error | undefined)?.message, delayMs }, 'reconnecting');
    });
    this.#reconnector.on('stopped', (err?: unknown) => {
      if (this.#deregistered && !this.#stopped) void this.#markDeregistered();
      else if (err && !this.#stopped) this.#log.error({ err }, 'reconnect loop stopped');
    });
    this.#reconnector.start();
  }

  #dial(signal: AbortSignal): Promise<Session> {
    const state = this.#state!;
    if (isExpired(state)) {
      this.#deregistered = false;
      this.#reconnector?.destroy();
      void this.#establish();
      return Promise.reject(new AgentError(AgentErrorCodes.CERTIFICATE_EXPIRED, `client certificate expired at ${state.notAfter}`));
    }
    const url = new URL(AgentPaths.TUNNEL, state.serverUrl);
    url.protocol = 'wss:';
    // Set once the session exists: a refused upgrade destroys it.
    let refuse = (_err: Error): void => {};
    const transport = this.#seams.dialTransport?.(url, state) ?? this.#webSocket(url, state, (err) => refuse(err));
    // 4403 is how the server says "deregistered, stop"; noted before the
    // session (and so the reconnect loop) learns that the tunnel closed.
    const watched: Transport = {
      start: (handlers) =>
        transport.start({
          ...handlers,
          onClose: (code, reason, error) => {
            if (code === TunnelCloseCodes.DEREGISTERED) {
              this.#deregistered = true;
              this.#log.warn({ reason }, 'the server closed the tunnel: cluster deregistered');
            }
            handlers.onClose(code, reason, error);
          },
        }),
      send: (data, cb) => transport.send(data, cb),
      get bufferedAmount() {
        return transport.bufferedAmount;
      },
      ping: () => transport.ping?.(),
      close: (code, reason) => transport.close(code, reason),
      terminate: () => transport.terminate(),
    };
    const session = new Session(watched, {
      role: 'client',
      software: `hawser-agent/${AGENT_VERSION}`,
      // The server relays only to agents that read request heads (stream-head.ts).
      capabilities: [REQUEST_HEAD_CAPABILITY],
      metadata: {
        ...(this.#facts.clusterUID ? { clusterUid: this.#facts.clusterUID } : {}),
        ...(this.#facts.kubernetesVersion ? { kubernetesVersion: this.#facts.kubernetesVersion } : {}),
        mode: this.#config.mode,
      },
    });
    refuse = (err) => session.destroy(err);
    session.on('stream', (stream: TunnelStream) => this.#relay!.accept(stream));
    const onAbort = () => session.destroy(new Error('agent stopping'));
    signal.addEventListener('abort', onAbort, { once: true });
    void session.closed.then(() => signal.removeEventListener('abort', onAbort));
    this.#health.set({ ready: false, status: 'connecting' });
    return Promise.resolve(session);
  }

  /** The production dialer: a WebSocket over TLS (and the proxy) with the agent's client certificate. */
  #webSocket(url: URL, state: AgentState, refuse: (err: Error) => void): Transport {
    const ws = new WebSocket(url, {
      createConnection: serverConnector(url, { ca: state.caBundle, cert: state.certificate, key: state.key }, this.#config.proxy) as never,
      perMessageDeflate: false,
      // Masking guards browser-era proxies against cache poisoning; the agent
      // is no browser and the tunnel is TLS, and ws skips the per-byte XOR
      // for an all-zero key (docs/protocol.md: 50 MB body 92 -> 159 MB/s).
      generateMask: (mask: Buffer) => void mask.fill(0),
      handshakeTimeout: 15_000,
      maxPayload: 2 * 1024 * 1024,
      headers: { 'user-agent': `hawser-agent/${AGENT_VERSION}` },
    });
    ws.on('unexpected-response', (_req: unknown, res: IncomingMessage) => {
      const code = String(res.headers[ERROR_CODE_HEADER] ?? '');
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => {
        if (meansDeregistered(code)) this.#deregistered = true;
        refuse(new Error(`server refused the tunnel: ${res.statusCode} ${code} ${body.slice(0, 200)}`));
      });
    });
    return fromWebSocket(ws);
  }

  async #markDeregistered(): Promise<void> {
    if (this.#state) {
      this.#state = { ...this.#state, deregisteredAt: new Date().toISOString() };
      await this.#store!.save(this.#state).catch((err: unknown) => this.#log.error({ err }, 'could not record deregistration in state'));
    }
    this.#parkDeregistered('the server deregistered this cluster');
  }

  /** Deregistered: say so, stop hammering, and look for a new token now and then. */
  #parkDeregistered(why: string): void {
    clearTimeout(this.#renewTimer);
    this.#health.set({ ready: false, status: 'deregistered', detail: `${why}; install a new bootstrap token to register again` });
    this.#log.error({ code: AgentErrorCodes.DEREGISTERED, retryInMs: this.#timings.slowRetryMs }, `${why}: not reconnecting; a new bootstrap token registers it again`);
    this.#slowRetry();
  }

  #parkUntilFixed(err: unknown): void {
    const code = (err as AgentError).code ?? AgentErrorCodes.REGISTRATION_REFUSED;
    const status = code === AgentErrorCodes.CERTIFICATE_EXPIRED ? 'expired' : code === AgentErrorCodes.DEREGISTERED ? 'deregistered' : 'unregistered';
    this.#health.set({ ready: false, status, detail: (err as Error).message });
    this.#log.error({ code, err: (err as Error).message, retryInMs: this.#timings.slowRetryMs }, 'cannot connect');
    this.#slowRetry();
  }

  #slowRetry(): void {
    if (this.#stopped) return;
    clearTimeout(this.#slowTimer);
    this.#slowTimer = setTimeout(() => void this.#establish(), this.#timings.slowRetryMs);
    this.#slowTimer.unref();
  }

  async #hasFreshToken(): Promise<boolean> {
    const token = await this.#readToken();
    return Boolean(token && token !== this.#usedToken && readBootstrapToken(token).exp * 1000 > Date.now());
  }

  async #readToken(): Promise<string | undefined> {
    if (this.#config.bootstrapToken) return this.#config.bootstrapToken;
    try {
      const token = (await readFile(this.#config.bootstrapTokenFile, 'utf8')).trim();
      return token || undefined;
    } catch {
      return undefined;
    }
  }

  /** Renews at about two thirds of the certificate's lifetime, retrying on failure. */
  #scheduleRenewal(): void {
    clearTimeout(this.#renewTimer);
    const state = this.#state;
    if (!state || this.#stopped) return;
    const cert = new X509Certificate(state.certificate);
    const from = Date.parse(cert.validFrom);
    const to = Date.parse(cert.validTo);
    const now = Date.now();
    const at = from + (to - from) * this.#config.renewAt;
    // Past the renewal point already (the agent was down, or notBefore is
    // backdated for clock skew on a short-lived certificate): renew soon,
    // but never in a tight loop: wait half of what is left, at most a minute.
    const soonest = Math.min((to - now) / 2, 60_000);
    const delay = Math.max(0, Math.min(Math.max(at - now, soonest), 2 ** 31 - 1));
    this.#renewTimer = setTimeout(() => void this.#renew(), delay);
    this.#renewTimer.unref();
  }

  async #renew(): Promise<void> {
    const state = this.#state!;
    try {
      const renewed = await renew(state, this.#config.proxy, this.#facts);
      await this.#store!.save(renewed);
      this.#state = renewed;
      this.#log.info({ notAfter: renewed.notAfter }, 'client certificate renewed');
      this.#scheduleRenewal();
    } catch (err) {
      if ((err as AgentError).code === AgentErrorCodes.DEREGISTERED) {
        this.#deregistered = true;
        this.#reconnector?.destroy();
        return;
      }
      // Retry well before expiry: a tenth of what is left, at least a minute.
      const left = Date.parse(state.notAfter) - Date.now();
      const retry = Math.max(60_000, left / 10);
      this.#log.warn({ err: (err as Error).message, code: AgentErrorCodes.RENEWAL_FAILED, retryInMs: retry }, 'certificate renewal failed; the current certificate stays in use');
      this.#renewTimer = setTimeout(() => void this.#renew(), retry);
      this.#renewTimer.unref();
    }
  }

  /** Drains: the tunnel finishes open streams (up to the drain deadline), then everything stops. */
  async close(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#renewTimer);
    clearTimeout(this.#slowTimer);
    await this.#reconnector?.close();
    await this.#relay?.close();
    await this.#health.close();
  }

  destroy(err?: Error): void {
    this.#stopped = true;
    clearTimeout(this.#renewTimer);
    clearTimeout(this.#slowTimer);
    this.#reconnector?.destroy(err);
    void this.#relay?.close();
    void this.#health.close();
  }
}

function isExpired(state: AgentState): boolean {
  return Date.parse(state.notAfter) <= Date.now();
}
