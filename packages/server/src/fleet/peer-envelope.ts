import { isHtnError } from '@hawser/protocol';

/**
 * The OPEN payload of a forwarded stream on a peer session (docs/protocol.md,
 * "Forwarding between replicas"):
 *
 *   u8 version (1) | u8 n | n bytes cluster id (UTF-8) | u64 BE epoch | inner payload
 *
 * The inner payload is the request head exactly as the admitting replica
 * encoded it for the agent; the owner passes it on untouched.
 */
export const PEER_ENVELOPE_VERSION = 1;
const FIXED = 2 + 8;

/** What the owner learns from a forwarded stream's OPEN payload. */
export interface PeerEnvelope {
  readonly clusterId: string;
  /** The lease epoch the forwarder believes the owner holds. */
  readonly epoch: number;
  readonly inner: Buffer;
}

/** Bytes the envelope adds in front of the request head. */
export function envelopeOverhead(clusterId: string): number {
  return FIXED + Buffer.byteLength(clusterId, 'utf8');
}

export function encodeEnvelope(clusterId: string, epoch: number, inner: Uint8Array): Buffer {
  const id = Buffer.from(clusterId, 'utf8');
  if (id.length === 0 || id.length > 255) throw new RangeError(`cluster id of ${id.length} bytes does not fit a peer envelope`);
  if (!Number.isSafeInteger(epoch) || epoch < 0) throw new RangeError(`epoch ${epoch} is not a non-negative integer`);
  const out = Buffer.allocUnsafe(FIXED + id.length + inner.length);
  out[0] = PEER_ENVELOPE_VERSION;
  out[1] = id.length;
  id.copy(out, 2);
  out.writeBigUInt64BE(BigInt(epoch), 2 + id.length);
  out.set(inner, FIXED + id.length);
  return out;
}

/** Reads an envelope; throws a RangeError naming what is wrong. */
export function decodeEnvelope(payload: Buffer): PeerEnvelope {
  if (payload.length < FIXED + 1) throw new RangeError(`peer envelope of ${payload.length} bytes is too short`);
  if (payload[0] !== PEER_ENVELOPE_VERSION) throw new RangeError(`peer envelope version ${payload[0]} is not ${PEER_ENVELOPE_VERSION}`);
  const n = payload[1]!;
  if (n === 0 || payload.length < FIXED + n) throw new RangeError('peer envelope cluster id is empty or truncated');
  const clusterId = payload.toString('utf8', 2, 2 + n);
  const epoch = payload.readBigUInt64BE(2 + n);
  if (epoch > BigInt(Number.MAX_SAFE_INTEGER)) throw new RangeError('peer envelope epoch is out of range');
  return { clusterId, epoch: Number(epoch), inner: payload.subarray(FIXED + n) };
}

/**
 * Wire codes (application range) the owner resets a forwarded stream with
 * when it will not serve it. Distinct from the agent's 0x1001.. codes, so
 * the forwarder tells "ask again later, the tunnel moved" from an agent's
 * own refusal.
 */
export const PeerResetCodes = {
  /** This replica does not hold the cluster's lease (any more), or holds an older epoch. */
  NOT_OWNER: 0x1101,
  /** The lease is ours but the agent's tunnel is gone or draining. */
  AGENT_GONE: 0x1102,
  /** The envelope could not be read. */
  ENVELOPE_INVALID: 0x1103,
  /** The agent's session took no further stream (its stream limit or budget). */
  AGENT_BUSY: 0x1104,
} as const;
export type PeerResetCode = (typeof PeerResetCodes)[keyof typeof PeerResetCodes];

const REFUSALS: Readonly<Record<number, string>> = {
  [PeerResetCodes.NOT_OWNER]: 'the replica it was forwarded to no longer holds the tunnel',
  [PeerResetCodes.AGENT_GONE]: "the agent's tunnel on the owning replica is gone or draining",
  [PeerResetCodes.ENVELOPE_INVALID]: 'the owning replica could not read the forwarded request',
  [PeerResetCodes.AGENT_BUSY]: 'the agent cannot take another request now',
};

/** When `err` is an owner's refusal of a forwarded stream: its code and a sentence for the operator. */
export function peerRefusal(err: unknown): { code: PeerResetCode; why: string } | undefined {
  if (!isHtnError(err) || !err.remote) return undefined;
  const why = REFUSALS[err.wireCode];
  return why === undefined ? undefined : { code: err.wireCode as PeerResetCode, why };
}
