import v8 from 'node:v8';

/**
 * The V8 flag that counts external memory (ArrayBuffer backing stores) in
 * the heap's global limit, which grows with the heap, instead of against a
 * fixed external budget of its own.
 *
 * Why: a relay allocates external memory for every byte it moves (each
 * socket read is a fresh ArrayBuffer, Node's HTTP parser copies every body
 * chunk into another, TLS adds its own). From V8 13 (Node 24) each fixed
 * budget spent starts a full marking cycle however small the heap: the
 * bench's server process ran 41 full collections per 500 MB relayed, and
 * with the flag 25. On the real path (Node 24, a 39 MB LIST from a real API
 * server, seven times) the server's CPU fell from 2.0-3.7 s to 1.3-1.9 s.
 *
 * The agent does not use it: its CPU on the same path did not change
 * beyond the noise, and it runs under a 128 MiB memory limit, where buffers
 * waiting longer for a collection are a risk rather than a trade
 * (docs/operations.md, "Garbage collection").
 */
export const EXTERNAL_MEMORY_FLAG = '--external-memory-accounted-in-global-limit';

/** First Node.js major whose V8 has {@link EXTERNAL_MEMORY_FLAG}. */
const FIRST_MAJOR_WITH_FLAG = 24;

/**
 * Apply the garbage-collector settings the server runs with. Call it once,
 * first thing in the entry point; `createServer()` never calls it, so
 * embedders keep control of their process. Returns whether a flag was set:
 * not on Node 20, whose V8 does not know the flag and would print an error
 * for it, and not with HAWSER_GC_TUNING=off, the operator's way back to
 * V8's defaults.
 */
export function tuneGarbageCollector(nodeVersion: string = process.versions.node, env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.HAWSER_GC_TUNING === 'off') return false;
  if (Number.parseInt(nodeVersion, 10) < FIRST_MAJOR_WITH_FLAG) return false;
  v8.setFlagsFromString(EXTERNAL_MEMORY_FLAG);
  return true;
}

/**
 * The V8 flag that compiles a WebAssembly function on its first call
 * instead of the whole module when it loads.
 *
 * Why: the embedded store is PostgreSQL compiled to a 9 MB WASM module, of
 * which a server runs a small part (single-user mode, a few statement
 * kinds). Compiling all of it up front keeps machine code for every
 * function: with the flag, idle RSS fell by a further 25 MiB (Node 24,
 * 317 -> 292 MiB, docs/operations.md "Memory") and the store opened faster.
 */
export const WASM_LAZY_FLAG = '--wasm-lazy-compilation';

/**
 * Apply {@link WASM_LAZY_FLAG}, first thing in the entry point (before the
 * store compiles its module). Every supported Node knows it; like
 * {@link tuneGarbageCollector}, HAWSER_GC_TUNING=off leaves V8's defaults.
 */
export function tuneWasmCompilation(env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.HAWSER_GC_TUNING === 'off') return false;
  v8.setFlagsFromString(WASM_LAZY_FLAG);
  return true;
}
