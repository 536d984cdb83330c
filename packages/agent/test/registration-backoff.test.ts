import { createServer as createTcpServer } from 'node:net';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Agent } from '../src/agent.js';
import { AgentError, AgentErrorCodes } from '../src/errors.js';
import { register } from '../src/registration.js';
import { classifyRegistrationFailure } from '../src/registration-failure.js';
import { RegistrationRetry, type RetryTimer } from '../src/registration-retry.js';
import { agentBench, bootstrapToken, caHash, freePort, LogCapture, testConfig, writeKubeconfig } from './support/agent-harness.js';
import { HttpsStub, json } from './support/https-stub.js';
import { serverPki } from './support/test-pki.js';

const pki = serverPki('Hawser CA');
const noProxy = { noProxy: [] };
const facts = { agentVersion: '0.1.0' };

/** A timer that never waits: it records each requested delay and lets the test fire the pending callback. */
class ManualTimer {
  readonly delays: number[] = [];
  #pending: (() => void) | undefined;
  readonly #waiters: (() => void)[] = [];
  readonly timer: RetryTimer = (fn, ms) => {
    this.delays.push(ms);
    this.#pending = fn;
    for (const w of this.#waiters.splice(0)) w();
    return () => {
      if (this.#pending === fn) this.#pending = undefined;
    };
  };

  /** Resolves once `n` delays have been asked for. */
  async scheduled(n: number): Promise<void> {
    while (this.delays.length < n) await new Promise<void>((resolve) => this.#waiters.push(resolve));
  }

  fire(): void {
    const fn = this.#pending;
    this.#pending = undefined;
    fn?.();
  }
}

describe('what a registration failure means for the next attempt', () => {
  it('treats refused, reset and timed-out connections and DNS failures as passing, each with its own code', () => {
    const errno = (code: string, message = code) => Object.assign(new Error(message), { code });
    expect(classifyRegistrationFailure(errno('ECONNREFUSED', 'connect ECONNREFUSED 10.0.0.1:8444'), '10.0.0.1:8444')).toMatchObject({
      code: AgentErrorCodes.SERVER_UNREACHABLE,
      transient: true,
    });
    expect(classifyRegistrationFailure(errno('ECONNRESET'), 'h:1').transient).toBe(true);
    expect(classifyRegistrationFailure(errno('ETIMEDOUT'), 'h:1').transient).toBe(true);
    expect(classifyRegistrationFailure(new Error('Client network socket disconnected before secure TLS connection was established'), 'h:1')).toMatchObject({
      code: AgentErrorCodes.SERVER_UNREACHABLE,
      transient: true,
    });
    const dns = classifyRegistrationFailure(errno('ENOTFOUND', 'getaddrinfo ENOTFOUND hawser.example'), 'hawser.example:8444');
    expect(dns).toMatchObject({ code: AgentErrorCodes.SERVER_NAME_UNRESOLVED, transient: true });
    expect(dns.message).toMatch(/cannot resolve the server name hawser\.example .*check the server URL/);
    expect(classifyRegistrationFailure(errno('EAI_AGAIN'), 'h:1').code).toBe(AgentErrorCodes.SERVER_NAME_UNRESOLVED);
  });

  it('waits long only for answers retrying cannot change: a refused token, a CA mismatch, no token', () => {
    for (const code of [AgentErrorCodes.REGISTRATION_REFUSED, AgentErrorCodes.SERVER_CA_MISMATCH, AgentErrorCodes.NO_IDENTITY, AgentErrorCodes.CERTIFICATE_EXPIRED]) {
      expect(classifyRegistrationFailure(new AgentError(code, 'x'), 'h:1').transient).toBe(false);
    }
    // The state Secret's API server being briefly away is passing.
    expect(classifyRegistrationFailure(new AgentError(AgentErrorCodes.STATE_UNAVAILABLE, 'x'), 'h:1').transient).toBe(true);
  });

  it('backs off with full jitter from the base, capped, and starts over after a success', () => {
    const timer = new ManualTimer();
    const retry = new RegistrationRetry({ baseMs: 500, maxMs: 30_000, slowMs: 600_000, random: () => 0.999, timer: timer.timer });
    const waits = Array.from({ length: 9 }, () => retry.after({ transient: true }, () => undefined));
    expect(waits).toEqual([499, 999, 1998, 3996, 7992, 15984, 29970, 29970, 29970]);
    expect(retry.after({ transient: false }, () => undefined)).toBe(600_000);
    retry.succeeded();
    expect(retry.after({ transient: true }, () => undefined)).toBe(499);
    expect(timer.delays).toHaveLength(11);
  });
});

describe('registration answers, from a real HTTPS server on 127.0.0.1', { timeout: 30_000 }, () => {
  let server: HttpsStub;
  beforeEach(async () => {
    server = await HttpsStub.start(pki.serving, [pki.serving.cert, pki.ca.cert], (_req, res) => json(res, 404, {}));
  });
  afterEach(() => server.close());

  const attempt = async (): Promise<AgentError> => {
    try {
      await register({ serverUrl: server.url, token: 't', serverCA: pki.ca.cert, proxy: noProxy, facts });
    } catch (e) {
      return e as AgentError;
    }
    throw new Error('registration unexpectedly succeeded');
  };

  it('reads a 502, 503 or 504 as a server that is not there yet', async () => {
    for (const status of [502, 503, 504]) {
      server.handler = (_req, res) => json(res, status, {});
      const err = await attempt();
      expect(err.code).toBe(AgentErrorCodes.SERVER_UNAVAILABLE);
      expect(err.message).toContain(`answered ${status}`);
      expect(classifyRegistrationFailure(err, 'h:1').transient).toBe(true);
    }
  });

  it('reads a 4xx without a Hawser error code as something other than the server answering, and retries soon', async () => {
    server.handler = (_req, res) => json(res, 404, { message: 'default backend' });
    const err = await attempt();
    expect(err.code).toBe(AgentErrorCodes.SERVER_UNAVAILABLE);
    expect(err.message).toMatch(/not the Hawser server: no HSR_ERR code/);
  });

  it('reads a 4xx with an HSR_ERR code as a refusal that waits long, and says what to do', async () => {
    server.handler = (_req, res) => json(res, 401, { error: { code: 'HSR_ERR_TOKEN_INVALID', message: 'the bootstrap token was already used' } });
    const err = await attempt();
    expect(err.code).toBe(AgentErrorCodes.REGISTRATION_REFUSED);
    expect(err.message).toMatch(/already used \(HSR_ERR_TOKEN_INVALID\); mint a new bootstrap token with "hawser cluster token NAME"/);
    expect(classifyRegistrationFailure(err, 'h:1').transient).toBe(false);
  });

  it('reads a TLS handshake cut short as an unreachable server', async () => {
    const tcp = createTcpServer((socket) => socket.destroy());
    tcp.listen(0, '127.0.0.1');
    await once(tcp, 'listening');
    try {
      const url = `https://127.0.0.1:${(tcp.address() as AddressInfo).port}`;
      const err = await register({ serverUrl: url, token: 't', serverCA: pki.ca.cert, proxy: noProxy, facts }).then(
        () => undefined,
        (e: unknown) => e as AgentError,
      );
      expect(err?.code).toBe(AgentErrorCodes.SERVER_UNREACHABLE);
    } finally {
      tcp.close();
    }
  });
});

describe('the agent retrying registration', { timeout: 30_000 }, () => {
  const bench = agentBench(pki.serving);

  function newAgent(token: string, logs: LogCapture, timer: ManualTimer): Agent {
    const config = testConfig(bench.dir.path, writeKubeconfig(bench.dir.path, bench.api.url, pki.ca.cert), { bootstrapToken: token });
    // Production timings: the 10-minute slow retry must not apply to a refused connection.
    return new Agent(config, logs.logger, {}, { retryTimer: timer.timer, random: () => 0.999 });
  }

  it('retries a refused connection within seconds, backing off like the tunnel, never the 10-minute wait', async () => {
    const url = `https://127.0.0.1:${await freePort()}`;
    const logs = new LogCapture();
    const timer = new ManualTimer();
    bench.agent = newAgent(bootstrapToken({ url, cah: caHash(pki.ca) }), logs, timer);
    await bench.agent.start();
    for (let n = 1; n <= 4; n++) {
      await timer.scheduled(n);
      if (n < 4) timer.fire();
    }
    expect(timer.delays).toEqual([499, 999, 1998, 3996]);
    const line = logs.lines.find((l) => l.msg === 'cannot connect yet')!;
    expect(line).toMatchObject({ level: 'warn', code: AgentErrorCodes.SERVER_UNREACHABLE, transient: true, retryInMs: 499 });
    expect(line.err).toMatch(/cannot reach the Hawser server at 127\.0\.0\.1:\d+ \(ECONNREFUSED\): check that the server runs/);
    expect(bench.agent.health.state).toMatchObject({ ready: false, status: 'unregistered' });
  });

  /** Starts an agent whose token names a stub server that answers registration with `status`/`body`; resolves after its first retry is scheduled. */
  async function firstRetryAgainst(status: number, body: unknown): Promise<{ timer: ManualTimer; logs: LogCapture }> {
    const server = await HttpsStub.start(pki.serving, [pki.serving.cert, pki.ca.cert], (_req, res) => json(res, status, body));
    try {
      const logs = new LogCapture();
      const timer = new ManualTimer();
      bench.agent = newAgent(bootstrapToken({ url: server.url, cah: caHash(pki.ca) }), logs, timer);
      await bench.agent.start();
      await timer.scheduled(1);
      return { timer, logs };
    } finally {
      await server.close();
    }
  }

  it('waits the slow interval after the server refuses the token, and logs the code and the fix', async () => {
    const { timer, logs } = await firstRetryAgainst(401, { error: { code: 'HSR_ERR_TOKEN_INVALID', message: 'the bootstrap token has expired' } });
    expect(timer.delays).toEqual([600_000]);
    const line = await logs.next('cannot connect');
    expect(line).toMatchObject({ level: 'error', code: AgentErrorCodes.REGISTRATION_REFUSED, transient: false, retryInMs: 600_000 });
    expect(line.err).toMatch(/HSR_ERR_TOKEN_INVALID.*hawser cluster token NAME/);
  });

  it('retries a 503 from a load balancer in front of a starting server within seconds', async () => {
    const { timer, logs } = await firstRetryAgainst(503, {});
    expect(timer.delays).toEqual([499]);
    expect(logs.lines.find((l) => l.msg === 'cannot connect yet')).toMatchObject({ code: AgentErrorCodes.SERVER_UNAVAILABLE });
  });
});
