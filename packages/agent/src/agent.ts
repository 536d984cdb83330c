import { Reconnector, type Session } from '@hawser/protocol';
import { AgentLifecycle, AgentPhases } from './agent-phase.js';
import { AGENT_VERSION } from './agent-version.js';
import { apiServerProbe } from './api-server-probe.js';
import { BootstrapTokenSource } from './bootstrap-token-source.js';
import { CertificateRenewal, isRenewSignal } from './certificate-renewal.js';
import { readClusterFacts } from './cluster-facts.js';
import type { AgentConfig } from './config.js';
import { DirStateStore } from './dir-state-store.js';
import { AgentError, AgentErrorCodes } from './errors.js';
import { HealthServer } from './health-server.js';
import { KubeTarget } from './kube-target.js';
import type { Logger } from './log.js';
import { Policy } from './policy.js';
import { register, type AgentFacts } from './registration.js';
import { classifyRegistrationFailure } from './registration-failure.js';
import { RegistrationRetry, type RetryTimer } from './registration-retry.js';
import { Relay } from './relay.js';
import { SecretStateStore } from './secret-state-store.js';
import { loadStoredIdentity } from './stored-identity.js';
import { discoverServerCA } from './server-connection.js';
import type { AgentState, StateStore } from './state-store.js';
import { TunnelDialer, type DialTransport } from './tunnel-dialer.js';

export { AGENT_VERSION } from './agent-version.js';

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
  dialTransport?: DialTransport;
  /** Schedules registration retries (tests fire them at once and note the delays). */
  retryTimer?: RetryTimer;
  /** Jitter source for the registration backoff. */
  random?: () => number;
}

/**
 * hawser-agent: registers once with a bootstrap token, then keeps one tunnel
 * to the server open for good, serving each stream the server opens as an
 * HTTP request relayed to the local API server under the agent's policy.
 * Its life cycle is one phase (agent-phase.ts); dialing, renewal and the
 * bootstrap token live in their own files.
 */
export class Agent {
  readonly #config: AgentConfig;
  readonly #log: Logger;
  /** The root logger, without a component: each part takes its own child. */
  readonly #root: Logger;
  readonly #timings: AgentTimings;
  readonly #seams: AgentSeams;
  readonly #health = new HealthServer();
  readonly #lifecycle = new AgentLifecycle();
  readonly #tokens: BootstrapTokenSource;
  #store: StateStore | undefined;
  #relay: Relay | undefined;
  #dialer: TunnelDialer | undefined;
  #renewal: CertificateRenewal | undefined;
  #state: AgentState | undefined;
  #facts: AgentFacts = { agentVersion: AGENT_VERSION };
  #reconnector: Reconnector | undefined;
  readonly #retry: RegistrationRetry;
  /** The server URL the last registration attempt went to (for messages). */
  #registeringTo: string | undefined;

  constructor(config: AgentConfig, log: Logger, timings: Partial<AgentTimings> = {}, seams: AgentSeams = {}) {
    this.#config = config;
    this.#root = log;
    this.#log = log.child({ component: 'agent' });
    this.#timings = { ...defaultTimings, ...timings };
    this.#seams = seams;
    this.#tokens = new BootstrapTokenSource({ token: config.bootstrapToken, file: config.bootstrapTokenFile, join: config.join });
    this.#retry = new RegistrationRetry({
      baseMs: this.#timings.reconnectBaseMs,
      maxMs: this.#timings.reconnectMaxMs,
      slowMs: this.#timings.slowRetryMs,
      ...(seams.retryTimer ? { timer: seams.retryTimer } : {}),
      ...(seams.random ? { random: seams.random } : {}),
    });
  }

  get health(): HealthServer {
    return this.#health;
  }

  /** Starts the health endpoints, loads or obtains an identity, and connects. */
  async start(): Promise<{ healthPort: number }> {
    const addr = await this.#health.listen(this.#config.healthAddr.host, this.#config.healthAddr.port);
    this.#log.info({ health: `${addr.address}:${addr.port}`, mode: this.#config.mode, authzMode: this.#config.authzMode }, 'hawser-agent starting');
    const target = await KubeTarget.load(this.#config.kube);
    this.#health.checkApiServer(apiServerProbe(target));
    const store: StateStore =
      this.#config.state.kind === 'secret'
        ? new SecretStateStore(target, this.#config.state.namespace, this.#config.state.name)
        : new DirStateStore(this.#config.state.path);
    const relay = new Relay({ target, policy: new Policy(this.#config), log: this.#root.child({ component: 'relay' }) });
    this.#store = store;
    this.#relay = relay;
    this.#dialer = new TunnelDialer({
      config: this.#config,
      facts: () => this.#facts,
      log: this.#root.child({ component: 'tunnel' }),
      dialTransport: this.#seams.dialTransport,
      onDeregistered: () => this.#lifecycle.to(AgentPhases.DEREGISTERED),
      onStream: (stream) => {
        if (!isRenewSignal(stream)) return relay.accept(stream);
        stream.on('error', () => {});
        stream.resume();
        stream.end();
        this.#renewal?.renewNow();
      },
    });
    this.#renewal = new CertificateRenewal({
      config: this.#config,
      store,
      log: this.#log,
      facts: () => this.#facts,
      onRenewed: (state) => (this.#state = state),
      onDeregistered: () => {
        this.#lifecycle.to(AgentPhases.DEREGISTERED);
        this.#reconnector?.destroy();
      },
    });
    this.#facts = { agentVersion: AGENT_VERSION, ...(await readClusterFacts(target, this.#log)) };
    await this.#establish();
    return { healthPort: addr.port };
  }

  /** Identity first (stored, or registered with a token), then the tunnel. */
  async #establish(): Promise<void> {
    if (!this.#lifecycle.to(AgentPhases.REGISTERING)) return;
    try {
      this.#state = await loadStoredIdentity(this.#store!);
      if (this.#state?.deregisteredAt && !(await this.#tokens.hasFresh())) {
        return this.#parkDeregistered('the server deregistered this cluster earlier');
      }
      if (this.#state && !this.#state.deregisteredAt && !isExpired(this.#state)) {
        this.#log.info({ clusterId: this.#state.clusterId, cluster: this.#state.clusterName, state: this.#store!.description }, 'using stored identity');
      } else {
        if (this.#state && isExpired(this.#state)) {
          this.#log.warn({ notAfter: this.#state.notAfter }, this.#tokens.joinsWithServiceAccount ? 'the stored certificate has expired; joining again with the ServiceAccount token' : 'the stored certificate has expired; registering again needs a new bootstrap token');
        }
        await this.#register();
      }
    } catch (err) {
      return this.#parkUntilFixed(err);
    }
    if (!this.#state || this.#lifecycle.stopping) return;
    this.#retry.succeeded();
    this.#renewal!.schedule(this.#state);
    this.#connect();
  }

  async #register(): Promise<void> {
    const credential = await this.#tokens.credential();
    if (!credential) {
      const expired = this.#state && isExpired(this.#state);
      throw new AgentError(
        expired ? AgentErrorCodes.CERTIFICATE_EXPIRED : AgentErrorCodes.NO_IDENTITY,
        this.#config.join
          ? `no ServiceAccount token at ${this.#config.join.tokenFile} to join with: check the chart's projected token volume (join.method=kubernetes)`
          : expired
            ? `the client certificate expired at ${this.#state!.notAfter} and there is no bootstrap token to register again: mint one with "hawser cluster token NAME"`
            : `no stored identity in ${this.#store!.description} and no bootstrap token at ${this.#config.bootstrapTokenFile}: install the chart with bootstrap.token`,
      );
    }
    let serverUrl: string;
    let serverCA: string | string[];
    if (credential.kind === 'bootstrap') {
      const claims = credential.claims;
      if (this.#config.caHash && this.#config.caHash !== claims.cah) {
        throw new AgentError(AgentErrorCodes.SERVER_CA_MISMATCH, `the configured CA hash ${this.#config.caHash} differs from the token's ${claims.cah}: refusing to register`);
      }
      if (claims.exp * 1000 < Date.now()) {
        throw new AgentError(AgentErrorCodes.REGISTRATION_REFUSED, `the bootstrap token expired at ${new Date(claims.exp * 1000).toISOString()}: mint a new one with "hawser cluster token NAME"`);
      }
      serverUrl = this.#config.serverUrl ?? claims.url;
      this.#registeringTo = serverUrl;
      this.#log.info({ server: serverUrl, cluster: claims.cnm, caHash: claims.cah }, 'registering with the server');
      serverCA = await discoverServerCA(new URL(serverUrl), claims.cah, this.#config.proxy);
    } else {
      // Config guarantees both with a join. A re-join trusts the bundle it
      // already holds (it follows CA rotations); a first join pins the hash.
      serverUrl = this.#config.serverUrl!;
      this.#registeringTo = serverUrl;
      const bundle = this.#state?.caBundle;
      this.#log.info({ server: serverUrl, cluster: credential.cluster }, 'joining with the ServiceAccount token');
      serverCA = bundle && bundle.length > 0 ? [...bundle] : await discoverServerCA(new URL(serverUrl), this.#config.caHash!, this.#config.proxy);
    }
    this.#health.set({ ready: false, status: 'registering' });
    this.#tokens.used(credential.token);
    const attempt = (ca: string | string[]) =>
      register({
        serverUrl,
        ...(credential.kind === 'bootstrap' ? { token: credential.token } : { serviceAccount: { token: credential.token, cluster: credential.cluster } }),
        serverCA: ca,
        proxy: this.#config.proxy,
        facts: this.#facts,
      });
    try {
      this.#state = await attempt(serverCA);
    } catch (err) {
      // The stored bundle no longer names the server's CA (retired while away): fall back to the configured pin.
      if (!Array.isArray(serverCA) || (err as AgentError).code !== AgentErrorCodes.SERVER_UNTRUSTED) throw err;
      this.#state = await attempt(await discoverServerCA(new URL(serverUrl), this.#config.caHash!, this.#config.proxy));
    }
    await this.#store!.save(this.#state);
    this.#log.info({ clusterId: this.#state.clusterId, cluster: this.#state.clusterName, notAfter: this.#state.notAfter, state: this.#store!.description }, 'registered');
  }

  #connect(): void {
    if (!this.#lifecycle.to(AgentPhases.RECONNECTING)) return;
    const reconnector = new Reconnector({
      connect: (signal) => this.#dial(signal),
      backoff: { baseMs: this.#timings.reconnectBaseMs, maxMs: this.#timings.reconnectMaxMs },
      shouldRetry: () => this.#lifecycle.tunnelWanted,
    });
    this.#reconnector = reconnector;
    reconnector.on('session', (session: Session) => {
      this.#lifecycle.to(AgentPhases.CONNECTED);
      this.#health.set({ ready: true, status: 'connected' });
      this.#log.info({ server: this.#state?.serverUrl, peer: session.peer?.software }, 'tunnel up');
      void session.closed.then((err) => {
        if (this.#lifecycle.stopping) return;
        // A session told to go away closes once its streams finished; by then
        // the next one may be up (Reconnector hands over on GOAWAY).
        if (reconnector.session?.peer && reconnector.session !== session) {
          this.#log.info({ err: err?.message }, 'drained tunnel closed');
          return;
        }
        // Only from CONNECTED: a 4403 close has already moved the phase on.
        if (this.#lifecycle.phase === AgentPhases.CONNECTED) this.#lifecycle.to(AgentPhases.RECONNECTING);
        this.#health.set({ ready: false, status: 'disconnected', ...(err ? { detail: err.message } : {}) });
        this.#log.warn({ err: err?.message }, 'tunnel down');
      });
    });
    reconnector.on('retry', (err: unknown, delayMs: number) => {
      this.#log.info({ err: (err as Error | undefined)?.message, delayMs }, 'reconnecting');
    });
    reconnector.on('stopped', (err?: unknown) => {
      if (this.#lifecycle.phase === AgentPhases.DEREGISTERED) void this.#markDeregistered();
      else if (err && !this.#lifecycle.stopping) this.#log.error({ err }, 'reconnect loop stopped');
    });
    reconnector.start();
  }

  #dial(signal: AbortSignal): Promise<Session> {
    const state = this.#state!;
    if (isExpired(state)) {
      // Back to identity: registering again needs a new bootstrap token.
      this.#lifecycle.to(AgentPhases.REGISTERING);
      this.#reconnector?.destroy();
      void this.#establish();
      return Promise.reject(new AgentError(AgentErrorCodes.CERTIFICATE_EXPIRED, `client certificate expired at ${state.notAfter}`));
    }
    const session = this.#dialer!.dial(state, signal);
    this.#health.set({ ready: false, status: 'connecting' });
    return Promise.resolve(session);
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
    if (!this.#lifecycle.to(AgentPhases.DEREGISTERED)) return;
    this.#renewal?.cancel();
    this.#health.set({ ready: false, status: 'deregistered', detail: `${why}; install a new bootstrap token to register again` });
    this.#log.error({ code: AgentErrorCodes.DEREGISTERED, retryInMs: this.#timings.slowRetryMs }, `${why}: not reconnecting; a new bootstrap token registers it again`);
    if (!this.#lifecycle.stopping) this.#retry.slowly(() => void this.#establish());
  }

  /**
   * No usable identity yet. A passing failure (the server not up yet, its
   * DNS name not resolving yet, a 503 from its load balancer) is retried
   * with the tunnel's backoff; a refusal (a bad or used token, a CA
   * mismatch, no token) waits the slow interval. Either way the phase stays
   * REGISTERING and the log line carries the code and what to do.
   */
  #parkUntilFixed(err: unknown): void {
    if (this.#lifecycle.stopping) return;
    const failure = classifyRegistrationFailure(err, this.#serverHost());
    const code = failure.code;
    const status = code === AgentErrorCodes.CERTIFICATE_EXPIRED ? 'expired' : code === AgentErrorCodes.DEREGISTERED ? 'deregistered' : 'unregistered';
    this.#health.set({ ready: false, status, detail: failure.message });
    const retryInMs = this.#retry.after(failure, () => void this.#establish());
    const line = { code, err: failure.message, retryInMs, transient: failure.transient };
    if (failure.transient) this.#log.warn(line, 'cannot connect yet');
    else this.#log.error(line, 'cannot connect');
  }

  /** The server the next registration goes to, for messages (the token's URL unless --server-url). */
  #serverHost(): string {
    const url = this.#registeringTo ?? this.#config.serverUrl ?? this.#state?.serverUrl;
    try {
      return url ? new URL(url).host : 'the server';
    } catch {
      return 'the server';
    }
  }

  /** Drains: the tunnel finishes open streams (up to the drain deadline), then everything stops. */
  async close(): Promise<void> {
    this.#stopping();
    await this.#reconnector?.close();
    await this.#relay?.close();
    await this.#health.close();
    this.#lifecycle.to(AgentPhases.STOPPED);
  }

  destroy(err?: Error): void {
    this.#stopping();
    this.#reconnector?.destroy(err);
    void this.#relay?.close();
    void this.#health.close();
    this.#lifecycle.to(AgentPhases.STOPPED);
  }

  #stopping(): void {
    this.#lifecycle.to(AgentPhases.STOPPING);
    this.#renewal?.stop();
    this.#retry.cancel();
  }
}

function isExpired(state: AgentState): boolean {
  return Date.parse(state.notAfter) <= Date.now();
}
