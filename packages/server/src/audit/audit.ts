import { randomUUID } from 'node:crypto';
import type { Logger } from '../log.js';
import type { AuditEventRecord, AuditOutcome, Store } from '../store/store.js';

/** Every control-plane event type. New types are added here, never renamed. */
export const AuditEventTypes = {
  CLUSTER_ADDED: 'cluster.added',
  CLUSTER_REMOVED: 'cluster.removed',
  TOKEN_MINTED: 'token.minted',
  TOKEN_USED: 'token.used',
  TOKEN_REFUSED: 'token.refused',
  CERTIFICATE_ISSUED: 'certificate.issued',
  CERTIFICATE_RENEWED: 'certificate.renewed',
  CERTIFICATE_REVOKED: 'certificate.revoked',
  CERTIFICATE_REFUSED: 'certificate.refused',
  AGENT_CONNECTED: 'agent.connected',
  AGENT_DISCONNECTED: 'agent.disconnected',
  /** A tunnel closed after its handshake: invalid metadata or a changed cluster uid. */
  AGENT_REFUSED: 'agent.refused',
  API_TOKEN_CREATED: 'api-token.created',
  API_TOKEN_REVOKED: 'api-token.revoked',
  /** An admin token replaced by a new one (hawser token rotate-admin). */
  API_TOKEN_ROTATED: 'api-token.rotated',
  /** The previous server stopped without a clean shutdown: relayed requests it had not finished are recorded with an unknown outcome. */
  AUDIT_GAP: 'audit.gap',
  /** One per request relayed to a cluster (see relay-audit.ts). */
  REQUEST_RELAYED: 'request.relayed',
  /** `hawser ca rotate`: a new CA signs agent certificates; the old one is still trusted. */
  CA_ROTATED: 'ca.rotated',
  /** The serving certificate moved to the new CA (every agent trusts it, or a forced retire). */
  CA_SERVING_MOVED: 'ca.serving-moved',
  /** `hawser ca retire`: the old CA is no longer trusted. */
  CA_RETIRED: 'ca.retired',
  /** A ServiceAccount token presented to join (`--join kubernetes`) was refused. */
  JOIN_REFUSED: 'join.refused',
} as const;
export type AuditEventType = (typeof AuditEventTypes)[keyof typeof AuditEventTypes];

/** What a caller supplies; id and time are filled in. */
export interface AuditInput {
  type: AuditEventType;
  /** `admin`, `agent:<clusterId>`, `anonymous` or a user name. */
  actor: string;
  clusterId?: string | null | undefined;
  requestId?: string | null | undefined;
  sourceIp?: string | null | undefined;
  /** Default `success`. */
  outcome?: AuditOutcome;
  /** Specific reason of a failure (never sent to the caller). */
  reason?: string | null | undefined;
  /** Non-secret extras: serials, names, versions. */
  details?: Record<string, unknown>;
}

/**
 * Writes each event twice: a row in the store (the record) and a JSON log
 * line (for log pipelines). A store failure is logged, never thrown: losing
 * an audit row must not turn a successful deregistration into an error the
 * admin retries.
 */
export class AuditLog {
  readonly #store: Store;
  readonly #log: Logger;
  readonly #observe: ((event: AuditEventRecord) => void) | undefined;

  /** `observe` sees every event as it is recorded (metrics). */
  constructor(store: Store, log: Logger, observe?: (event: AuditEventRecord) => void) {
    this.#store = store;
    this.#log = log;
    this.#observe = observe;
  }

  async record(input: AuditInput): Promise<AuditEventRecord> {
    const event: AuditEventRecord = {
      id: randomUUID(),
      time: new Date(),
      type: input.type,
      actor: input.actor,
      clusterId: input.clusterId ?? null,
      requestId: input.requestId ?? null,
      sourceIp: input.sourceIp ?? null,
      outcome: input.outcome ?? 'success',
      reason: input.reason ?? null,
      details: input.details ?? {},
    };
    const level = event.outcome === 'success' ? 'info' : 'warn';
    this.#log[level]({ audit: { ...event, time: event.time.toISOString() } }, `audit ${event.type}`);
    this.#observe?.(event);
    try {
      await this.#store.insertAuditEvent(event);
    } catch (err) {
      this.#log.error({ err, auditId: event.id }, 'audit event could not be stored');
    }
    return event;
  }
}
