/**
 * The memory settings Dockerfile.agent's ENV gives the shipped agent, as
 * bench/agent-rss.ts runs it; packages/agent/test/image-env.test.ts keeps
 * the two in step. Why each: docs/operations.md, "Memory".
 */
export const AGENT_NODE_OPTIONS = '--max-semi-space-size=1 --max-old-space-size=96 --v8-pool-size=1';

export const AGENT_IMAGE_ENV: Readonly<Record<string, string>> = {
  NODE_OPTIONS: AGENT_NODE_OPTIONS,
  MALLOC_ARENA_MAX: '1',
  UV_THREADPOOL_SIZE: '1',
};
