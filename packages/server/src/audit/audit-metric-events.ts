import { AgentPaths } from '@hawser/contract';
import { AuditEventTypes } from './audit.js';
import type { AuditEventRecord } from '../store/store.js';

/** What a control-plane audit event says about registration, if anything. */
export function registrationOutcome(e: AuditEventRecord): 'registered' | 'renewed' | 'refused' | 'renew-refused' | undefined {
  switch (e.type) {
    case AuditEventTypes.CERTIFICATE_ISSUED:
      return 'registered';
    case AuditEventTypes.CERTIFICATE_RENEWED:
      return 'renewed';
    case AuditEventTypes.TOKEN_REFUSED:
      return 'refused';
    case AuditEventTypes.CERTIFICATE_REFUSED:
      return e.details.route === AgentPaths.RENEW ? 'renew-refused' : undefined;
    default:
      return undefined;
  }
}

const SHORT_CODE = /^[A-Za-z0-9_.-]{1,60}$/;

/**
 * The code of a refused tunnel: the client-certificate reason (a short
 * fixed word) or the handshake's HSR_ERR_* code. Anything longer or odd is
 * `other`, so a label can never carry free text.
 */
export function tunnelRefusalCode(e: AuditEventRecord): string | undefined {
  const tunnel = (e.type === AuditEventTypes.CERTIFICATE_REFUSED && e.details.route === AgentPaths.TUNNEL) || e.type === AuditEventTypes.AGENT_REFUSED;
  if (!tunnel) return undefined;
  return e.reason && SHORT_CODE.test(e.reason) ? e.reason : 'other';
}
