import type { FleetEvent } from './fleet-event.js';

/**
 * What travels on the one PostgreSQL channel of a fleet: lease changes (the
 * owner caches), replica announcements (peer URLs) and FleetEvents. Keys are
 * one letter because NOTIFY payloads must stay under 8000 bytes; the store
 * builds the lease ones in SQL (sql-store.ts), so a notification is sent
 * exactly when its change commits.
 */
export const FLEET_CHANNEL = 'hawser_fleet';

export type LeaseNotice =
  /** A replica claimed a lease (`ms`: its time to live, `a`: the LeasedAgent). */
  | { readonly k: 'lease'; readonly c: string; readonly r: string; readonly n: string; readonly e: number; readonly ms: number; readonly a: unknown }
  /** A replica gave a lease up. */
  | { readonly k: 'released'; readonly c: string; readonly r: string; readonly e: number }
  /** A replica renewed every lease it still holds for `ms` more. */
  | { readonly k: 'renewed'; readonly r: string; readonly ms: number }
  /** A replica started or advertised its peer URL. */
  | { readonly k: 'replica'; readonly r: string; readonly u: string }
  | { readonly k: 'replica-gone'; readonly r: string }
  /** A FleetEvent published on the bus. */
  | { readonly k: 'event'; readonly v: FleetEvent };

const EVENT_KEYS = {
  'cluster.deregistered': 'clusterId',
  'cluster.changed': 'clusterId',
  'credential.revoked': 'credentialId',
  'console-session.ended': 'idHash',
} as const;

function str(v: unknown): v is string {
  return typeof v === 'string';
}

function num(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v);
}

/** A FleetEvent from untrusted JSON, or undefined when it is none (a newer replica's event type). */
export function parseFleetEvent(v: unknown): FleetEvent | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const o = v as Record<string, unknown>;
  const key = str(o.type) ? (EVENT_KEYS as Record<string, string>)[o.type] : undefined;
  if (key === undefined || !str(o[key])) return undefined;
  return { type: o.type, [key]: o[key] } as FleetEvent;
}

/**
 * Parses one notification payload; undefined for anything malformed or
 * unknown (a newer replica in a rolling upgrade may send kinds this one
 * does not know: they are ignored, not fatal).
 */
export function parseLeaseNotice(payload: string | undefined): LeaseNotice | undefined {
  let o: Record<string, unknown>;
  try {
    const v: unknown = JSON.parse(payload ?? '');
    if (typeof v !== 'object' || v === null) return undefined;
    o = v as Record<string, unknown>;
  } catch {
    return undefined;
  }
  switch (o.k) {
    case 'lease':
      return str(o.c) && str(o.r) && str(o.n) && num(o.e) && num(o.ms) ? { k: 'lease', c: o.c, r: o.r, n: o.n, e: o.e, ms: o.ms, a: o.a } : undefined;
    case 'released':
      return str(o.c) && str(o.r) && num(o.e) ? { k: 'released', c: o.c, r: o.r, e: o.e } : undefined;
    case 'renewed':
      return str(o.r) && num(o.ms) ? { k: 'renewed', r: o.r, ms: o.ms } : undefined;
    case 'replica':
      return str(o.r) && str(o.u) ? { k: 'replica', r: o.r, u: o.u } : undefined;
    case 'replica-gone':
      return str(o.r) ? { k: 'replica-gone', r: o.r } : undefined;
    case 'event': {
      const v = parseFleetEvent(o.v);
      return v ? { k: 'event', v } : undefined;
    }
    default:
      return undefined;
  }
}
