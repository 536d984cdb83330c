/**
 * The memory settings Dockerfile.agent's ENV gives the shipped agent, as
 * bench/agent-rss.ts runs it; packages/agent/test/image-env.test.ts keeps
 * the two in step. Why each: docs/operations.md, "Memory".
 */
/**
 * What the image's `hawser-agent` gives node on its command line (its
 * shebang line, which carries one argument). `--lite-mode` is a V8 flag
 * NODE_OPTIONS refuses, and one V8 reads only before its isolate exists:
 * V8 without its compilers (jitless) and tuned for size. Node 24, same run:
 * idle 62.9 -> 58.5 MiB, a 50 MB LIST's peak 91.7 -> 69.8 MiB, for 10% more
 * agent CPU on large bodies and 30-70% more per small request
 * (docs/protocol.md, "Memory"). `hawser-agent-jit` is the same file without it.
 */
export const AGENT_NODE_ARGS: readonly string[] = ['--lite-mode'];

export const AGENT_NODE_OPTIONS = '--max-semi-space-size=1 --max-old-space-size=96 --v8-pool-size=1';

export const AGENT_IMAGE_ENV: Readonly<Record<string, string>> = {
  NODE_OPTIONS: AGENT_NODE_OPTIONS,
  MALLOC_ARENA_MAX: '1',
  UV_THREADPOOL_SIZE: '1',
};
