import { X509Certificate } from 'node:crypto';
import { RENEW_SIGNAL } from '@hawser/contract';
import type { AgentConfig } from './config.js';
import { AgentErrorCodes, type AgentError } from './errors.js';
import type { Logger } from './log.js';
import { renew, type AgentFacts } from './registration.js';
import type { AgentState, StateStore } from './state-store.js';

export interface CertificateRenewalOptions {
  config: Pick<AgentConfig, 'renewAt' | 'proxy'>;
  store: StateStore;
  log: Logger;
  facts: () => AgentFacts;
  /** A renewed identity, already saved. */
  onRenewed: (state: AgentState) => void;
  /** The server answered that this cluster is deregistered. */
  onDeregistered: () => void;
}

/**
 * Renews the client certificate at about two thirds of its lifetime (the
 * config's `renewAt`), and retries a failed renewal well before expiry.
 * The current certificate stays in use until a new one is saved.
 */
export class CertificateRenewal {
  readonly #opts: CertificateRenewalOptions;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;
  /** The identity the planned renewal renews. */
  #current: AgentState | undefined;
  #renewing = false;

  constructor(opts: CertificateRenewalOptions) {
    this.#opts = opts;
  }

  /** Plans the next renewal of `state`'s certificate, replacing any planned one. */
  schedule(state: AgentState): void {
    this.cancel();
    if (this.#stopped) return;
    this.#current = state;
    const cert = new X509Certificate(state.certificate);
    const from = Date.parse(cert.validFrom);
    const to = Date.parse(cert.validTo);
    const now = Date.now();
    const at = from + (to - from) * this.#opts.config.renewAt;
    // Past the renewal point already (the agent was down, or notBefore is
    // backdated for clock skew on a short-lived certificate): renew soon,
    // but never in a tight loop: wait half of what is left, at most a minute.
    const soonest = Math.min((to - now) / 2, 60_000);
    const delay = Math.max(0, Math.min(Math.max(at - now, soonest), 2 ** 31 - 1));
    this.#later(() => void this.#renew(state), delay);
  }

  /**
   * Renews at once instead of at the planned time: the server asks for it
   * during a CA rotation (a RENEW_SIGNAL stream), so the agent receives the
   * new CA bundle and a certificate from the new CA without waiting. A
   * renewal already under way is not doubled.
   */
  renewNow(): void {
    if (this.#stopped || this.#renewing || !this.#current) return;
    this.cancel();
    this.#opts.log.info({}, 'the server asked for a certificate renewal now');
    void this.#renew(this.#current);
  }

  /** Drops the planned renewal; a later schedule() plans again. */
  cancel(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** For good: the agent is stopping. */
  stop(): void {
    this.#stopped = true;
    this.cancel();
  }

  async #renew(state: AgentState): Promise<void> {
    this.#renewing = true;
    try {
      const renewed = await renew(state, this.#opts.config.proxy, this.#opts.facts());
      await this.#opts.store.save(renewed);
      this.#opts.log.info({ notAfter: renewed.notAfter }, 'client certificate renewed');
      this.#opts.onRenewed(renewed);
      this.schedule(renewed);
    } catch (err) {
      if ((err as AgentError).code === AgentErrorCodes.DEREGISTERED) return this.#opts.onDeregistered();
      // Retry well before expiry: a tenth of what is left, at least a minute.
      const left = Date.parse(state.notAfter) - Date.now();
      const retry = Math.max(60_000, left / 10);
      this.#opts.log.warn({ err: (err as Error).message, code: AgentErrorCodes.RENEWAL_FAILED, retryInMs: retry }, 'certificate renewal failed; the current certificate stays in use');
      if (!this.#stopped) this.#later(() => void this.#renew(state), retry);
    } finally {
      this.#renewing = false;
    }
  }

  #later(fn: () => void, ms: number): void {
    this.#timer = setTimeout(fn, ms);
    this.#timer.unref();
  }
}

/** True for the stream the server opens to ask for a renewal now (contract RENEW_SIGNAL). */
export function isRenewSignal(stream: { readonly openPayload: Buffer }): boolean {
  return stream.openPayload.length === RENEW_SIGNAL.length && stream.openPayload.toString('latin1') === RENEW_SIGNAL;
}
