import type { Store } from './store/store.js';

/** What `/readyz` answers (JSON); `ready` decides 200 or 503. */
export interface ReadinessReport {
  readonly ready: boolean;
  /** `ready`, `starting`, `draining` or `store-unavailable`. */
  readonly status: string;
  readonly detail?: string;
}

export interface ReadinessOptions {
  /** A cheap store query answers whether the store is there. */
  readonly store: Pick<Store, 'getClusterByName'>;
  /** True once the server is started and until it begins to drain. */
  readonly serving: () => 'starting' | 'serving' | 'draining';
  /** How long the store may take to answer. Default 2 s. */
  readonly timeoutMs?: number;
}

/** A name no cluster can have (names start with a letter or digit): the query touches the index only. */
const PROBE_NAME = '-readyz-';

/**
 * `/readyz` of the server: ready while serving and while its store answers
 * a one-row query within the timeout. A draining server says so, so a load
 * balancer takes it out before its listeners close. Concurrent probes share
 * one query. `/livez` is the process alone and never asks the store: a slow
 * database must not get the server restarted.
 */
export class Readiness {
  readonly #opts: ReadinessOptions;
  #inFlight: Promise<ReadinessReport> | undefined;

  constructor(opts: ReadinessOptions) {
    this.#opts = opts;
  }

  check(): Promise<ReadinessReport> {
    const phase = this.#opts.serving();
    if (phase !== 'serving') return Promise.resolve({ ready: false, status: phase });
    this.#inFlight ??= this.#probeStore().finally(() => (this.#inFlight = undefined));
    return this.#inFlight;
  }

  async #probeStore(): Promise<ReadinessReport> {
    const timeoutMs = this.#opts.timeoutMs ?? 2000;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`the store did not answer within ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      await Promise.race([this.#opts.store.getClusterByName(PROBE_NAME), timeout]);
      return { ready: true, status: 'ready' };
    } catch (err) {
      return { ready: false, status: 'store-unavailable', detail: (err as Error).message };
    } finally {
      clearTimeout(timer);
    }
  }
}
