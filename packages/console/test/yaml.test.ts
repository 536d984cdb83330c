import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { toYaml } from '../src/yaml.js';

describe('JSON printed as YAML', () => {
  it('prints an object as kubectl does: sequences at their key, nested maps indented', () => {
    const text = toYaml({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web', labels: { app: 'web' } }, spec: { containers: [{ name: 'c', ports: [{ containerPort: 80 }] }] }, status: {} });
    expect(text).toBe(
      ['apiVersion: v1', 'kind: Pod', 'metadata:', '  name: web', '  labels:', '    app: web', 'spec:', '  containers:', '  - name: c', '    ports:', '    - containerPort: 80', 'status: {}', ''].join('\n'),
    );
  });

  it('reads back as the same value, whatever the strings hold', () => {
    const tricky = {
      bools: ['true', 'no', 'Yes', 'off', 'y', 'null', '~', ''],
      numbers: ['1', '1.5', '0x1F', '1e3', '.5', '-2', '12:30', '0o17', '.inf', '2026-01-01'],
      indicators: ['- x', 'a: b', 'a #b', '#c', '@x', '`x', '!tag', '&a', '*a', '{x}', '[x]', '|', '>', "'q'", '"q"', '%x', 'x ', ' x', 'a:'],
      text: ['line1\nline2', 'trail\n', 'keep\n\n', ' lead\nx', 'tab\there', 'a\r\nb', 'é ✓', 'bell\u0007', 'ends in space \nx'],
      keys: { 'we:ird': 1, '': 2, 'true': 3, '- k': 4 },
      nested: [[1, [2, []]], { a: [{ b: null }] }, {}, []],
      scalars: [0, -1.25, true, false, null],
    };
    expect(parse(toYaml(tricky))).toEqual(tricky);
  });
});
