import { randomBytes } from 'node:crypto';

const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567';

/**
 * A fresh replica id: `r-` and 8 base32 characters (40 random bits), a DNS
 * label like the pod names the chart passes instead. New at every start, so
 * a restarted replica never inherits the leases of its former self.
 */
export function newReplicaId(): string {
  const bytes = randomBytes(5);
  let bits = 0n;
  for (const b of bytes) bits = (bits << 8n) | BigInt(b);
  let out = '';
  for (let i = 7; i >= 0; i--) out += BASE32[Number((bits >> BigInt(i * 5)) & 31n)];
  return `r-${out}`;
}
