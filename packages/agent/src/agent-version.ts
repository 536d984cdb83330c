import { readFileSync } from 'node:fs';

/**
 * The agent's version, read from `../package.json` beside this module (the
 * workspace's package.json, or the one the single-file bundle ships with).
 */
export const AGENT_VERSION: string = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
