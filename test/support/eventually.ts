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
