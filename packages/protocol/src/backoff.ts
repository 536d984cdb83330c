import { HtnError, HtnErrorCode } from './errors.js';
import { validateInteger } from './options.js';

/** Options of {@link Backoff}. */
export interface BackoffOptions {
  /** Ceiling of the first delay, in ms. Default 500. */
  baseMs?: number;
  /** Largest ceiling, in ms. Default 30,000. */
  maxMs?: number;
  /** A session that lived this long resets the attempt count, in ms. Default 60,000. */
  healthyAfterMs?: number;
  /** Random source in [0, 1). Default Math.random. */
  random?: () => number;
  /** Clock in ms. Default Date.now. */
  now?: () => number;
}

/**
 * Exponential backoff with full jitter (AWS architecture blog, "Exponential
 * Backoff And Jitter"): delay = random(0, min(maxMs, baseMs * 2^attempt)).
 * Full jitter spreads a fleet that lost the same server, so a restart is not
 * followed by a thundering herd.
 */
export class Backoff {
  #baseMs: number;
  #maxMs: number;
  #healthyAfterMs: number;
  #random: () => number;
  #now: () => number;
  #attempt = 0;
  #connectedAt: number | undefined;

  constructor(options: BackoffOptions = {}) {
    this.#baseMs = validateInteger('baseMs', options.baseMs ?? 500, 1, 3_600_000);
    this.#maxMs = validateInteger('maxMs', options.maxMs ?? 30_000, this.#baseMs, 86_400_000);
    this.#healthyAfterMs = validateInteger('healthyAfterMs', options.healthyAfterMs ?? 60_000, 0, 86_400_000);
    if (options.random !== undefined && typeof options.random !== 'function') throw new HtnError(HtnErrorCode.INVALID_OPTION, 'option "random" must be a function');
    if (options.now !== undefined && typeof options.now !== 'function') throw new HtnError(HtnErrorCode.INVALID_OPTION, 'option "now" must be a function');
    this.#random = options.random ?? Math.random;
    this.#now = options.now ?? Date.now;
  }

  /** Consecutive failed attempts so far. */
  get attempt(): number {
    return this.#attempt;
  }

  /**
   * Delay before the next attempt, in ms. With a server hint ("come back
   * after N ms", from GOAWAY) the delay is the hint plus the jittered
   * backoff, so the hint is honoured and the fleet still spreads out.
   */
  next(hintMs?: number): number {
    // 2^attempt overflows harmlessly to Infinity; min() caps it.
    const ceiling = Math.min(this.#maxMs, this.#baseMs * 2 ** this.#attempt);
    this.#attempt++;
    const jitter = Math.floor(this.#random() * ceiling);
    return hintMs !== undefined && hintMs > 0 ? hintMs + jitter : jitter;
  }

  /** A session came up. */
  connected(): void {
    this.#connectedAt = this.#now();
  }

  /** The session went down; if it had been healthy long enough, start over from the base delay. */
  disconnected(): void {
    if (this.#connectedAt !== undefined && this.#now() - this.#connectedAt >= this.#healthyAfterMs) this.#attempt = 0;
    this.#connectedAt = undefined;
  }

  reset(): void {
    this.#attempt = 0;
  }
}
