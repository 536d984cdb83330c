import { logLineProblems } from '@hawser/contract';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { createLogger } from '../src/log.js';

/** Stands in for stdout: a terminal or not, collecting what is written. */
class Output {
  text = '';
  constructor(readonly isTTY: boolean) {}
  write(s: string): boolean {
    this.text += s;
    return true;
  }
}
const output = (isTTY: boolean): Output => new Output(isTTY);

describe('agent log lines', () => {
  it('are in the schema the server shares: level names, ISO time, service and component', () => {
    const out = output(false);
    const root = createLogger('info', out);
    root.child({ component: 'relay' }).warn({ code: 'HAG_ERR_POLICY_DENIED', requestId: 'r1', cluster: 'prod' }, 'refused by agent policy');
    root.child({ component: 'agent' }).error({ err: new Error('boom') }, 'failed');
    const lines = out.text.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toHaveLength(2);
    for (const line of lines) expect(logLineProblems(line)).toEqual([]);
    expect(lines[0]).toMatchObject({ level: 'warn', service: 'hawser-agent', component: 'relay', requestId: 'r1', cluster: 'prod' });
    expect(lines[1]!.err).toMatchObject({ type: 'Error', message: 'boom' });
  });

  it('are human-readable on a terminal and JSON otherwise, unless the format is forced', () => {
    const tty = output(true);
    createLogger('info', tty).child({ component: 'tunnel' }).info({ server: 'https://h:8444' }, 'tunnel up');
    // eslint-disable-next-line no-control-regex -- the colour codes are what is checked
    expect(tty.text).toMatch(/^\d\d:\d\d:\d\d\.\d{3} \u001b\[32mINFO \u001b\[39m tunnel: tunnel up {2}server=https:\/\/h:8444\n$/);
    const forcedJson = output(true);
    createLogger('info', forcedJson, 'json').child({ component: 'tunnel' }).info('tunnel up');
    expect(JSON.parse(forcedJson.text)).toMatchObject({ component: 'tunnel', msg: 'tunnel up' });
    const forcedPretty = output(false);
    createLogger('info', forcedPretty, 'pretty').child({ component: 'tunnel' }).info('tunnel up');
    expect(forcedPretty.text).toMatch(/ INFO {2}tunnel: tunnel up/);
    expect(forcedPretty.text).not.toContain('\u001b');
  });

  it('takes the format from --log-format or HAWSER_LOG_FORMAT and refuses others', () => {
    const base = { 'state-dir': '/tmp/x' };
    expect(loadConfig({ flags: base, env: {} }).logFormat).toBe('auto');
    expect(loadConfig({ flags: base, env: { HAWSER_LOG_FORMAT: 'json' } }).logFormat).toBe('json');
    expect(loadConfig({ flags: { ...base, 'log-format': 'pretty' }, env: { HAWSER_LOG_FORMAT: 'json' } }).logFormat).toBe('pretty');
    expect(() => loadConfig({ flags: { ...base, 'log-format': 'xml' }, env: {} })).toThrow(/log format .* one of auto, json, pretty/);
  });
});
