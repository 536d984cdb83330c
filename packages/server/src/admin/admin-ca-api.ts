import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ErrorCodes, HawserServerError } from '../errors.js';
import type { CaRotation } from '../registration/ca-rotation.js';
import type { RequestMeta } from '../registration/registrar.js';
import type { ClusterJoinRecord } from '../store/store.js';

export type { CaStatus } from '../registration/ca-rotation.js';

/** How a `--join kubernetes` cluster proves itself, as `cluster add` prints it. */
export interface JoinView {
  method: 'kubernetes';
  issuer: string;
  serviceAccount: string;
  audience: string;
  keys: 'discovery' | 'static';
  helm: string;
}

export function joinView(join: { record: ClusterJoinRecord; helm: string }): JoinView {
  return {
    method: 'kubernetes',
    issuer: join.record.issuer,
    serviceAccount: join.record.subject,
    audience: join.record.audience,
    keys: join.record.jwks ? 'static' : 'discovery',
    helm: join.helm,
  };
}

/** `/api/v1/ca`: status, rotate, retire (behind the admin API's token hook). */
export function adminCaRoutes(app: FastifyInstance, rotation: CaRotation, meta: (request: FastifyRequest) => RequestMeta): void {
  app.get('/ca', async () => rotation.status());
  app.post('/ca/rotate', async (request) => rotation.rotate(meta(request)));
  app.post('/ca/renew-now', async () => ({ asked: rotation.askAllToRenew() }));
  app.post('/ca/retire', async (request) => {
    const force = (request.body as { force?: unknown } | null | undefined)?.force ?? false;
    if (typeof force !== 'boolean') throw new HawserServerError(ErrorCodes.REQUEST_INVALID, 'force: expected true or false');
    return rotation.retire({ force }, meta(request));
  });
}
