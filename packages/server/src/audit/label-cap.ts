/** The label value shared by whatever comes after the cap. */
export const OTHER_LABEL = '_other';

/**
 * Values of one metric label, capped. Cluster names come from the store
 * (registered clusters only), so their number is the fleet's; the cap keeps
 * a very large or fast-churning fleet (clusters re-registered under new
 * names) from growing the series without bound. Error codes are a fixed
 * set in Hawser, but the agent's come back in a response header, so they
 * are capped too. A value keeps its label for the life of the process once
 * it has one.
 */
export class LabelCap {
  readonly #max: number;
  readonly #known = new Set<string>();

  constructor(max: number) {
    this.#max = max;
  }

  label(value: string): string {
    if (this.#known.has(value)) return value;
    if (this.#known.size >= this.#max) return OTHER_LABEL;
    this.#known.add(value);
    return value;
  }
}
