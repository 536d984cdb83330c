import { HtnError, HtnErrorCode } from './errors.js';
import { FrameType } from './frame.js';
import type { HelloFrame } from './frame.js';
import { FRAME_SIZE_CEILING, WINDOW_CEILING } from './options.js';

/**
 * The HELLO exchange. Both sides send HELLO as their first frame without
 * waiting for the other, so the handshake costs no round trip. Each side then
 * picks the highest version both ranges share; the rule is symmetric, so both
 * arrive at the same answer (or both refuse).
 */

/** Settings a side announces about what it accepts from its peer. */
export interface PeerSettings {
  maxFrameSize: number;
  maxHeaderSize: number;
  maxConcurrentStreams: number;
  initialWindow: number;
}

/** What each side tells the other in HELLO. */
export interface HelloInfo {
  /** Protocol versions spoken, inclusive range. */
  minVersion: number;
  maxVersion: number;
  /** Peer software and version, e.g. "hawser-agent/1.4.2". */
  software: string;
  /** Optional features the side supports, e.g. ["exec", "gzip"]. */
  capabilities: string[];
  /** Free-form string metadata; the agent sends `clusterUid` here. */
  metadata: Record<string, string>;
  settings: PeerSettings;
}

/** Result of a completed handshake, as seen from one side. */
export interface PeerInfo extends HelloInfo {
  /** The version both sides will speak. */
  version: number;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

export function encodeHello(info: HelloInfo): HelloFrame {
  const body = encoder.encode(
    JSON.stringify({
      software: info.software,
      capabilities: info.capabilities,
      metadata: info.metadata,
      settings: info.settings,
    }),
  );
  return { type: FrameType.HELLO, streamId: 0, minVersion: info.minVersion, maxVersion: info.maxVersion, body };
}

function bad(message: string): HtnError {
  return new HtnError(HtnErrorCode.PROTOCOL, `invalid HELLO: ${message}`);
}

function intField(o: Record<string, unknown>, key: string, min: number, max: number): number {
  const v = o[key];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw bad(`settings.${key} must be an integer in [${min}, ${max}]`);
  return v;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Parse and validate a peer's HELLO. Throws HtnError (PROTOCOL / HEADER_TOO_LARGE). */
export function parseHello(frame: HelloFrame, maxHeaderSize: number): HelloInfo {
  if (frame.body.length > maxHeaderSize) {
    throw new HtnError(HtnErrorCode.HEADER_TOO_LARGE, `HELLO body of ${frame.body.length} bytes exceeds ${maxHeaderSize}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(decoder.decode(frame.body));
  } catch {
    throw bad('body is not UTF-8 JSON');
  }
  if (!isRecord(parsed)) throw bad('body must be a JSON object');
  const { software, capabilities, metadata, settings } = parsed;
  if (typeof software !== 'string' || software.length > 256) throw bad('software must be a string of at most 256 characters');
  if (!Array.isArray(capabilities) || !capabilities.every((c) => typeof c === 'string')) throw bad('capabilities must be an array of strings');
  if (!isRecord(metadata) || !Object.values(metadata).every((v) => typeof v === 'string')) throw bad('metadata must map strings to strings');
  if (!isRecord(settings)) throw bad('settings must be an object');
  return {
    minVersion: frame.minVersion,
    maxVersion: frame.maxVersion,
    software,
    capabilities: capabilities as string[],
    metadata: metadata as Record<string, string>,
    settings: {
      maxFrameSize: intField(settings, 'maxFrameSize', 1024, FRAME_SIZE_CEILING),
      maxHeaderSize: intField(settings, 'maxHeaderSize', 256, FRAME_SIZE_CEILING),
      maxConcurrentStreams: intField(settings, 'maxConcurrentStreams', 0, 2 ** 31),
      initialWindow: intField(settings, 'initialWindow', 0, WINDOW_CEILING),
    },
  };
}

/**
 * Highest version inside both ranges. Throws HTN_ERR_VERSION_MISMATCH with a
 * message that names both ranges, so both sides can log something useful.
 */
export function negotiateVersion(local: { minVersion: number; maxVersion: number }, peer: { minVersion: number; maxVersion: number; software?: string }): number {
  const version = Math.min(local.maxVersion, peer.maxVersion);
  if (version < Math.max(local.minVersion, peer.minVersion) || peer.minVersion > peer.maxVersion) {
    throw new HtnError(
      HtnErrorCode.VERSION_MISMATCH,
      `no common protocol version: local speaks ${local.minVersion}..${local.maxVersion}, ` +
        `peer${peer.software ? ` (${peer.software})` : ''} speaks ${peer.minVersion}..${peer.maxVersion}`,
    );
  }
  return version;
}
