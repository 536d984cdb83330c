import { readFile } from 'node:fs/promises';
import { readBootstrapToken } from './bootstrap-token.js';

/**
 * Where the agent finds a bootstrap token: the flag, or the file the chart
 * mounts from its Secret (read afresh each time, so a newly installed token
 * is seen without a restart). Remembers the token it registered with, so a
 * deregistered agent waits for a different one.
 */
export class BootstrapTokenSource {
  readonly #token: string | undefined;
  readonly #file: string;
  #used: string | undefined;

  constructor(opts: { token?: string | undefined; file: string }) {
    this.#token = opts.token;
    this.#file = opts.file;
  }

  /** The token, or undefined when there is none (no flag, no file, an empty file). */
  async read(): Promise<string | undefined> {
    if (this.#token) return this.#token;
    try {
      const token = (await readFile(this.#file, 'utf8')).trim();
      return token || undefined;
    } catch {
      return undefined;
    }
  }

  /** Notes the token a registration used. */
  used(token: string): void {
    this.#used = token;
  }

  /** A token other than the one used last, and not expired. */
  async hasFresh(): Promise<boolean> {
    const token = await this.read();
    return Boolean(token && token !== this.#used && readBootstrapToken(token).exp * 1000 > Date.now());
  }
}
