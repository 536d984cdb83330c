import { X509Certificate } from 'node:crypto';
import type { KubeAccess } from './config.js';
import { AgentError, AgentErrorCodes } from './errors.js';

const PEM_CERTIFICATES = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/**
 * Node accepts a CA bundle that holds no certificate at all and fails only
 * on the first connection, as "unable to get local issuer certificate";
 * this check names the file at start-up instead.
 */
export function checkCaBundle(pem: string | Buffer, source: string): void {
  const found = pem.toString('utf8').match(PEM_CERTIFICATES) ?? [];
  const parses = found.length > 0 && found.every((c) => {
    try {
      new X509Certificate(c);
      return true;
    } catch {
      return false;
    }
  });
  if (!parses) {
    throw new AgentError(
      AgentErrorCodes.CONFIG_INVALID,
      `the API server's CA in ${source} is not a PEM certificate bundle (damaged, empty or another kind of file): give the cluster's CA certificate`,
    );
  }
}

/** A kubeconfig or ServiceAccount file that could not be read, named with the flag that sets it. */
export function kubeAccessFailure(err: unknown, access: KubeAccess): AgentError {
  if (err instanceof AgentError) return err;
  const errno = (err as NodeJS.ErrnoException).code;
  const where = access.kind === 'kubeconfig' ? `the kubeconfig ${access.path} (--kubeconfig, env KUBECONFIG)` : `the ServiceAccount files under ${access.root}`;
  const message = errno
    ? `cannot read ${where}: ${errno === 'ENOENT' ? 'it (or a file it names) does not exist' : errno === 'EISDIR' ? 'it (or a file it names) is a directory' : errno === 'EACCES' ? "the agent's user may not read it" : errno}; ${(err as Error).message.replace(/^[A-Z]+: /, '')}`
    : `cannot load Kubernetes credentials from ${where}: ${(err as Error).message}`;
  return new AgentError(AgentErrorCodes.CONFIG_INVALID, message, { cause: err });
}
