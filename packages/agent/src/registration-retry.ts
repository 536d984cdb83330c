import { Backoff } from '@hawser/protocol';
import type { RegistrationFailure } from './registration-failure.js';

/** Runs `fn` after `ms`; returns a cancel function. The seam tests replace so nothing really waits. */
export type RetryTimer = (fn: () => void, ms: number) => () => void;

/** Production timer: unref'd, so a parked agent never keeps a finished process alive. */
export const realTimer: RetryTimer = (fn, ms) => {
  const timer = setTimeout(fn, ms);
  timer.unref();
  return () => clearTimeout(timer);
};

export interface RegistrationRetryOptions {
  /** First backoff ceiling, ms (the tunnel's reconnect base). */
  baseMs: number;
  /** Largest backoff ceiling, ms (the tunnel's reconnect cap). */
  maxMs: number;
  /** The wait after a failure retrying cannot fix, ms. */
  slowMs: number;
  /** Random source in [0, 1) for the jitter. Default Math.random. */
  random?: () => number;
  timer?: RetryTimer;
}

/**
 * When to try getting an identity again. Passing failures back off like
 * the tunnel (exponential with full jitter from `baseMs`, capped at
 * `maxMs`), so an agent installed a few seconds before its server
 * registers within seconds of the server coming up; a refusal waits
 * `slowMs`. One pending retry at a time.
 */
export class RegistrationRetry {
  readonly #backoff: Backoff;
  readonly #slowMs: number;
  readonly #timer: RetryTimer;
  #cancel: (() => void) | undefined;

  constructor(opts: RegistrationRetryOptions) {
    this.#backoff = new Backoff({ baseMs: opts.baseMs, maxMs: opts.maxMs, ...(opts.random ? { random: opts.random } : {}) });
    this.#slowMs = opts.slowMs;
    this.#timer = opts.timer ?? realTimer;
  }

  /** Schedules `fn` after the wait `failure` calls for; returns that wait in ms. */
  after(failure: Pick<RegistrationFailure, 'transient'>, fn: () => void): number {
    const delayMs = failure.transient ? this.#backoff.next() : this.#slowMs;
    this.#schedule(fn, delayMs);
    return delayMs;
  }

  /** Schedules `fn` after the slow interval (deregistered: look for a new token now and then). */
  slowly(fn: () => void): number {
    this.#schedule(fn, this.#slowMs);
    return this.#slowMs;
  }

  /** An identity was obtained: the next failure starts from the base delay again. */
  succeeded(): void {
    this.#backoff.reset();
  }

  cancel(): void {
    this.#cancel?.();
    this.#cancel = undefined;
  }

  #schedule(fn: () => void, ms: number): void {
    this.cancel();
    this.#cancel = this.#timer(() => {
      this.#cancel = undefined;
      fn();
    }, ms);
  }
}
