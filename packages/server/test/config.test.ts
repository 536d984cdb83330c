import { describe, expect, it } from 'vitest';
import { DEFAULTS, isServerError, parseDuration, resolveConfig } from '../src/index.js';

describe('config', () => {
  it('fills every default and freezes the result', () => {
    const config = resolveConfig();
    expect(config.dataDir).toBe(DEFAULTS.dataDir);
    expect(config.listen).toEqual({ host: '127.0.0.1', port: 8443 });
    expect(config.agentListen).toEqual({ host: '127.0.0.1', port: 8444 });
    expect(config.tokenTtlMs).toBe(3_600_000);
    expect(config.certificateTtlMs).toBe(30 * 86_400_000);
    expect(config.databaseUrl).toBeUndefined();
    expect(config.serverNames).toEqual(['localhost', '127.0.0.1', '::1']);
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.listen)).toBe(true);
  });

  it('names the bad field and what it expected', () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ listen: 'nope' }, /config\.listen: expected host:port/],
      [{ agentListen: '127.0.0.1:70000' }, /config\.agentListen: expected host:port/],
      [{ tokenTtl: 'soon' }, /config\.tokenTtl: expected a positive duration/],
      [{ logLevel: 'loud' }, /config\.logLevel: expected fatal \| error/],
      [{ publicUrl: 'http://x' }, /config\.publicUrl: expected an absolute https:\/\/ URL/],
      [{ databaseUrl: 'mysql://x' }, /config\.databaseUrl: expected postgres/],
      [{ lisen: '1:1' }, /config\.lisen: expected one of the known fields/],
    ];
    for (const [input, message] of cases) {
      let caught: unknown;
      try {
        resolveConfig(input as never);
      } catch (err) {
        caught = err;
      }
      expect(isServerError(caught, 'HSR_ERR_CONFIG_INVALID'), JSON.stringify(input)).toBe(true);
      expect((caught as Error).message).toMatch(message);
    }
  });

  it('adds the hosts of the public and agent URLs to the serving certificate names', () => {
    const config = resolveConfig({ publicUrl: 'https://hawser.example.com', agentUrl: 'https://[fd00::1]:9443' });
    expect(config.serverNames).toEqual(['localhost', '127.0.0.1', '::1', 'hawser.example.com', 'fd00::1']);
  });

  it('parses IPv6 listen addresses', () => {
    expect(resolveConfig({ listen: '[::1]:0' }).listen).toEqual({ host: '::1', port: 0 });
  });

  it('parses durations with one unit', () => {
    expect(parseDuration('90s')).toBe(90_000);
    expect(parseDuration('1h')).toBe(3_600_000);
    expect(parseDuration('30d')).toBe(2_592_000_000);
    expect(() => parseDuration('1h30m')).toThrow(/positive duration/);
    expect(() => parseDuration('0s')).toThrow(/positive duration/);
  });
});
