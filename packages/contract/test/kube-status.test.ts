import { describe, expect, it } from 'vitest';
import { isDiscoveryPath, kubeStatus, warningHeader } from '../src/kube-status.js';

describe('kubeStatus', () => {
  it('gives each code the reason client libraries match on', () => {
    const reasons: Record<number, string> = {
      400: 'BadRequest', 401: 'Unauthorized', 403: 'Forbidden', 404: 'NotFound', 409: 'Conflict',
      413: 'RequestEntityTooLarge', 431: 'RequestEntityTooLarge', 500: 'InternalError', 503: 'ServiceUnavailable', 504: 'Timeout',
    };
    for (const [code, reason] of Object.entries(reasons)) {
      expect(JSON.parse(kubeStatus(Number(code), 'm')), code).toEqual({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'm', reason, code: Number(code) });
    }
  });
});

describe('isDiscoveryPath', () => {
  it('knows the discovery paths client-go reads without decoding errors', () => {
    for (const p of ['/api', '/api/', '/api/v1', '/apis', '/apis/apps', '/apis/apps/v1', '/apis/apps/v1?timeout=32s']) expect(isDiscoveryPath(p), p).toBe(true);
    for (const p of ['/api/v1/pods', '/apis/apps/v1/deployments', '/version', '/x/api', '/healthz']) expect(isDiscoveryPath(p), p).toBe(false);
    expect(isDiscoveryPath('/x/api', true)).toBe(true);
  });
});

describe('warningHeader', () => {
  it('quotes the message as RFC 7234 warn-text, escaping quotes and non-ASCII', () => {
    expect(warningHeader('cluster "a" is \\ gone – now')).toBe('299 - "cluster \\"a\\" is \\\\ gone ? now"');
  });
});
