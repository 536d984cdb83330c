/** Lines a log view keeps; older ones are dropped (and counted) so a day-long follow stays light. */
export const LOG_LINES_MAX = 10_000;

/**
 * The lines of a streamed log: text arrives in chunks that split lines
 * anywhere, so the unfinished tail waits for its newline. Past `max` lines
 * the oldest go, and `dropped` says how many, so the view can say so.
 */
export class LogBuffer {
  readonly #max: number;
  #lines: string[] = [];
  #partial = '';
  #dropped = 0;

  constructor(max = LOG_LINES_MAX) {
    this.#max = max;
  }

  append(text: string): void {
    const parts = (this.#partial + text).split('\n');
    this.#partial = parts.pop()!;
    this.#lines.push(...parts);
    const over = this.#lines.length - this.#max;
    if (over > 0) {
      // One splice per chunk, not per line: a burst of lines costs one copy.
      this.#lines.splice(0, over);
      this.#dropped += over;
    }
  }

  /** The complete lines, then the unfinished one (a follow can stop mid-line). */
  get text(): string {
    return this.#partial ? [...this.#lines, this.#partial].join('\n') : this.#lines.join('\n');
  }

  get lineCount(): number {
    return this.#lines.length + (this.#partial ? 1 : 0);
  }

  get dropped(): number {
    return this.#dropped;
  }
}
