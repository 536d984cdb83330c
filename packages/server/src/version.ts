import { readFileSync } from 'node:fs';

/** The server's version, from its package.json (works from src and dist). */
export const SERVER_VERSION: string = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/** What `GET /api/v1/version` and `hawser version` show about one binary. */
export interface BuildInfo {
  version: string;
  nodeVersion: string;
  platform: string;
}

export function buildInfo(): BuildInfo {
  return { version: SERVER_VERSION, nodeVersion: process.version, platform: `${process.platform}/${process.arch}` };
}
