import type { ServerResponse } from 'node:http';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AgentErrorCodes } from '../src/errors.js';
import { KubeTarget } from '../src/kube-target.js';
import { SecretStateStore } from '../src/secret-state-store.js';
import type { AgentState } from '../src/state-store.js';
import { tempDir, writeKubeconfig } from './support/agent-harness.js';
import { HttpsStub, json, type SeenRequest } from './support/https-stub.js';
import { serverPki } from './support/test-pki.js';

const pki = serverPki();
const PATH = '/api/v1/namespaces/hawser-system/secrets/hawser-agent-state';

interface StoredSecret {
  apiVersion: 'v1';
  kind: 'Secret';
  metadata: { name: string; namespace: string; resourceVersion: string; labels?: Record<string, string> };
  type: string;
  data?: Record<string, string>;
}

/**
 * An honest stub of the API server for one Secret: GET returns it, PUT
 * replaces it only when the body carries the current resourceVersion (409
 * Conflict otherwise, as the API server does), and bumps the version.
 */
class OneSecret {
  secret: StoredSecret | undefined = {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 'hawser-agent-state', namespace: 'hawser-system', resourceVersion: '1', labels: { app: 'hawser-agent' } },
    type: 'Opaque',
  };
  /** Runs once between the store's GET and its PUT: another writer. */
  beforePut: (() => void) | undefined;

  handle = (req: SeenRequest, res: ServerResponse): void => {
    if (req.headers.authorization !== 'Bearer sa-token') return json(res, 401, status(401, 'Unauthorized', 'Unauthorized'));
    if (req.path !== PATH) return json(res, 403, status(403, 'Forbidden', 'the agent may touch its own Secret only'));
    if (!this.secret) return json(res, 404, status(404, 'NotFound', 'secrets "hawser-agent-state" not found'));
    if (req.method === 'GET') return json(res, 200, this.secret);
    if (req.method !== 'PUT') return json(res, 405, status(405, 'MethodNotAllowed', req.method));
    this.beforePut?.();
    this.beforePut = undefined;
    const body = JSON.parse(req.body) as StoredSecret;
    if (body.metadata.resourceVersion !== this.secret.metadata.resourceVersion) {
      return json(res, 409, status(409, 'Conflict', 'Operation cannot be fulfilled on secrets "hawser-agent-state": the object has been modified; please apply your changes to the latest version and try again'));
    }
    this.secret = { ...body, metadata: { ...body.metadata, resourceVersion: String(Number(body.metadata.resourceVersion) + 1) } };
    json(res, 200, this.secret);
  };
}

function status(code: number, reason: string, message: string) {
  return { kind: 'Status', apiVersion: 'v1', status: 'Failure', message, reason, code };
}

const state: AgentState = {
  clusterId: 'c-1',
  clusterName: 'prod',
  serverUrl: 'https://hawser.example:8443',
  key: '-----BEGIN PRIVATE KEY-----\nkey\n-----END PRIVATE KEY-----\n',
  certificate: '-----BEGIN CERTIFICATE-----\ncert\n-----END CERTIFICATE-----\n',
  caBundle: ['-----BEGIN CERTIFICATE-----\nold\n-----END CERTIFICATE-----\n', '-----BEGIN CERTIFICATE-----\nnew\n-----END CERTIFICATE-----\n'],
  notAfter: '2030-01-01T00:00:00.000Z',
};

describe('SecretStateStore against a real HTTPS API server stub on 127.0.0.1', () => {
  let dir: ReturnType<typeof tempDir>;
  let api: HttpsStub;
  let one: OneSecret;
  let store: SecretStateStore;

  beforeEach(async () => {
    dir = tempDir();
    one = new OneSecret();
    api = await HttpsStub.start(pki.serving, [pki.serving.cert], one.handle);
    const target = await KubeTarget.load({ kind: 'kubeconfig', path: writeKubeconfig(dir.path, api.url, pki.ca.cert) });
    store = new SecretStateStore(target, 'hawser-system', 'hawser-agent-state');
  });
  afterEach(async () => {
    await api.close();
    dir.remove();
  });

  it('loads nothing from the empty Secret the chart creates', async () => {
    expect(await store.load()).toBeUndefined();
    expect(api.seen.map((r) => `${r.method} ${r.path}`)).toEqual([`GET ${PATH}`]);
  });

  it('writes the first state into the empty Secret, keeping its metadata, and reads it back', async () => {
    await store.save(state);
    expect(one.secret!.metadata).toEqual({ name: 'hawser-agent-state', namespace: 'hawser-system', resourceVersion: '2', labels: { app: 'hawser-agent' } });
    expect(Buffer.from(one.secret!.data!['cluster-id']!, 'base64').toString()).toBe('c-1');
    expect(api.seen.map((r) => r.method)).toEqual(['GET', 'PUT']);
    expect(await store.load()).toEqual(state);
  });

  it('updates a stored state in place (a renewal, then a deregistration)', async () => {
    await store.save(state);
    const renewed = { ...state, certificate: '-----BEGIN CERTIFICATE-----\nrenewed\n-----END CERTIFICATE-----\n', notAfter: '2031-01-01T00:00:00.000Z' };
    await store.save(renewed);
    expect(await store.load()).toEqual(renewed);
    const gone = { ...renewed, deregisteredAt: '2030-06-01T00:00:00.000Z' };
    await store.save(gone);
    expect(await store.load()).toEqual(gone);
    expect(one.secret!.metadata.resourceVersion).toBe('4');
  });

  it('fails loudly on a conflicting concurrent write and leaves the other writer\'s data alone', async () => {
    await store.save(state);
    one.beforePut = () => {
      // A second replica (by mistake) wrote in between our GET and our PUT.
      one.secret = { ...one.secret!, data: { 'cluster-id': Buffer.from('other').toString('base64') }, metadata: { ...one.secret!.metadata, resourceVersion: '99' } };
    };
    const err = await store.save({ ...state, clusterName: 'mine' }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: AgentErrorCodes.STATE_UNAVAILABLE });
    expect((err as Error).message).toMatch(/^Secret hawser-system\/hawser-agent-state: update failed \(409\): Operation cannot be fulfilled/);
    expect(Buffer.from(one.secret!.data!['cluster-id']!, 'base64').toString()).toBe('other');
  });

  it('says how to fix a missing Secret, on load and on save', async () => {
    one.secret = undefined;
    const loadErr = await store.load().catch((e: unknown) => e);
    expect(loadErr).toMatchObject({ code: AgentErrorCodes.STATE_UNAVAILABLE });
    expect((loadErr as Error).message).toMatch(/^Secret hawser-system\/hawser-agent-state does not exist: the hawser-agent chart creates it empty/);
    const saveErr = await store.save(state).catch((e: unknown) => e);
    expect(saveErr).toMatchObject({ code: AgentErrorCodes.STATE_UNAVAILABLE });
    expect(api.seen.map((r) => r.method)).toEqual(['GET', 'GET']);
  });

  it('reports the API server\'s Status message when it refuses the read', async () => {
    one.handle = (_req, res) => json(res, 403, status(403, 'Forbidden', 'secrets "hawser-agent-state" is forbidden: User "system:serviceaccount:hawser-system:hawser-agent" cannot get resource "secrets"'));
    api.handler = one.handle;
    const err = await store.load().catch((e: unknown) => e);
    expect((err as Error).message).toBe(
      'Secret hawser-system/hawser-agent-state: read failed (403): secrets "hawser-agent-state" is forbidden: User "system:serviceaccount:hawser-system:hawser-agent" cannot get resource "secrets"',
    );
  });

  it('reports an unreachable API server as STATE_UNAVAILABLE', async () => {
    await api.close();
    const err = await store.load().catch((e: unknown) => e);
    expect(err).toMatchObject({ code: AgentErrorCodes.STATE_UNAVAILABLE });
    expect((err as Error).message).toMatch(/^Secret hawser-system\/hawser-agent-state: connect ECONNREFUSED 127\.0\.0\.1:\d+$/);
  });
});
