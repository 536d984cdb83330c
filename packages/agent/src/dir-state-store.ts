import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { decodeState, encodeState, type AgentState, type StateStore } from './state-store.js';

/** Agent state as one JSON file in a directory: for running outside a cluster. */
export class DirStateStore implements StateStore {
  readonly #file: string;
  readonly description: string;

  constructor(dir: string) {
    this.#file = join(dir, 'agent-state.json');
    this.description = `file ${this.#file}`;
  }

  async load(): Promise<AgentState | undefined> {
    let text: string;
    try {
      text = await readFile(this.#file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    return decodeState(JSON.parse(text) as Record<string, string>);
  }

  async save(state: AgentState): Promise<void> {
    await mkdir(join(this.#file, '..'), { recursive: true, mode: 0o700 });
    // Write-then-rename: a crash mid-write never leaves half a key behind.
    const tmp = `${this.#file}.${process.pid}.tmp`;
    await writeFile(tmp, JSON.stringify(encodeState(state), null, 2), { mode: 0o600 });
    await rename(tmp, this.#file);
  }
}
