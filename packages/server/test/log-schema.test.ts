import { logLineProblems } from '@hawser/contract';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../src/log.js';
import { httpsJson, startServer, type Harness } from './support/harness.js';

/** A stream that says it is (or is not) a terminal, collecting what is written. */
function output(isTTY: boolean): { isTTY: boolean; text: string; write(s: string): boolean } {
  return {
    isTTY,
    text: '',
    write(s: string) {
      this.text += s;
      return true;
    },
  };
}

describe('server log lines', () => {
  let harness: Harness;
  beforeAll(async () => {
    harness = await startServer();
    // A request that fails on the operator listener logs through `http`.
    await httpsJson(`${harness.publicUrl}/api/v1/clusters`, { ca: harness.ca, token: 'not-a-token' });
  }, 60_000);
  afterAll(async () => {
    await harness?.stop();
  });

  it('writes every line of a start-up and a refused admin request in the shared schema', () => {
    expect(harness.logs.lines.length).toBeGreaterThan(2);
    for (const line of harness.logs.lines) expect({ line, problems: logLineProblems(line) }).toEqual({ line, problems: [] });
    const components = new Set(harness.logs.lines.map((l) => l.component));
    expect(components).toContain('server');
    expect(harness.logs.lines[0]).toMatchObject({ service: 'hawser-server' });
  });

  it('names request ids requestId, as the relay and the agent do', () => {
    const withId = harness.logs.lines.filter((l) => 'requestId' in l || 'reqId' in l);
    for (const l of withId) expect(l).not.toHaveProperty('reqId');
  });

  it('writes an error as err with type, message and stack', () => {
    const out = output(false);
    createLogger({ destination: out, format: 'json' }).child({ component: 'test' }).error({ err: new Error('boom') }, 'failed');
    const line = JSON.parse(out.text) as Record<string, unknown>;
    expect(logLineProblems(line)).toEqual([]);
    expect(line.err).toMatchObject({ type: 'Error', message: 'boom' });
  });
});

describe('server log format', () => {
  it('is human-readable on a terminal and JSON otherwise (auto)', () => {
    const tty = output(true);
    createLogger({ destination: tty }).child({ component: 'relay' }).info({ cluster: 'prod', requestId: 'r1' }, 'relayed');
    // eslint-disable-next-line no-control-regex -- the colour codes are what is checked
    expect(tty.text).toMatch(/^\d\d:\d\d:\d\d\.\d{3} \u001b\[32mINFO \u001b\[39m relay: relayed {2}cluster=prod requestId=r1\n$/);

    const pipe = output(false);
    createLogger({ destination: pipe }).child({ component: 'relay' }).info({ cluster: 'prod' }, 'relayed');
    expect(logLineProblems(JSON.parse(pipe.text) as Record<string, unknown>)).toEqual([]);
  });

  it('follows a forced format whatever the stream is', () => {
    const tty = output(true);
    createLogger({ destination: tty, format: 'json' }).child({ component: 'x' }).warn('w');
    expect(JSON.parse(tty.text)).toMatchObject({ level: 'warn', component: 'x', msg: 'w' });
    const pipe = output(false);
    createLogger({ destination: pipe, format: 'pretty' }).child({ component: 'x' }).error({ err: Object.assign(new Error('bad\u001b[2J'), { code: 'HSR_ERR_X' }) }, 'oops');
    expect(pipe.text).toMatch(/ERROR x: oops/);
    expect(pipe.text).toContain('Error: bad[2J (HSR_ERR_X)');
    createLogger({ destination: pipe, format: 'pretty' }).child({ component: 'x' }).info({ who: 'a\u009b31m' }, 'msg\u202e');
    expect(pipe.text).toContain('x: msg\\u202e  who=a\\u009b31m');
    expect(pipe.text).not.toContain('\u001b');
  });

  it('refuses an unknown format in the config', async () => {
    const { resolveConfig } = await import('../src/config.js');
    expect(() => resolveConfig({ logFormat: 'xml' })).toThrow(/logFormat: expected auto \| json \| pretty/);
  });
});
