/**
 * Polls until `check` passes or the time is up, then rethrows its last
 * failure. For what is eventually consistent by design: RBAC changes reaching
 * the authorizer's cache, an agent reconnecting, an audit row being written.
 */
export async function eventually<T>(check: () => Promise<T>, timeoutMs = 15_000, intervalMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  }
}

/**
 * Waits until `condition` holds, polling every `intervalMs`; fails with
 * `what` when the deadline passes. For state the code exposes but announces
 * with no event (a stream count reaching zero, a health status). The
 * default deadline is under vitest's 5 s test timeout, so a failure names `what`.
 */
export async function until(condition: () => boolean, what: string, timeoutMs = 4000, intervalMs = 5): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting until ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
