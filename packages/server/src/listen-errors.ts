import type { ListenAddress } from './config.js';
import { ErrorCodes, HawserServerError } from './errors.js';

/**
 * A listener that would not bind, in the operator's terms: which flag sets
 * the address, what is wrong with it and what to do, instead of Node's
 * "listen EADDRINUSE: address already in use".
 */
export function listenFailure(err: unknown, flag: '--listen' | '--agent-listen' | '--peer-listen', address: ListenAddress): unknown {
  const errno = (err as NodeJS.ErrnoException | null)?.code;
  const where = `${address.host.includes(':') ? `[${address.host}]` : address.host}:${address.port}`;
  const what = flag === '--listen' ? 'operator/admin listener' : flag === '--peer-listen' ? 'replica-to-replica listener' : 'agent listener';
  let why: string;
  if (errno === 'EADDRINUSE') why = `is already in use by another process: stop that process (ss -ltnp 'sport = :${address.port}' shows it) or choose another port with ${flag} HOST:PORT`;
  else if (errno === 'EACCES') why = `may not be bound by this user (ports below 1024 need privileges): choose a port of 1024 or above with ${flag} HOST:PORT`;
  else if (errno === 'EADDRNOTAVAIL') why = `is not an address of this machine: use one of its addresses, or 0.0.0.0 for all, with ${flag} HOST:PORT`;
  else if (errno === 'ENOTFOUND' || errno === 'EAI_AGAIN') why = `has a host name that does not resolve (${errno}): fix ${flag}`;
  else return err;
  return new HawserServerError(ErrorCodes.LISTEN_FAILED, `the ${what} address ${where} (${flag}) ${why}`, { cause: err });
}
