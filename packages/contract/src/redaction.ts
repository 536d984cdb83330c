/**
 * Log paths both binaries blank out wherever they appear. Secrets reach logs
 * mostly by accident (a whole request body, a header object, an error's
 * context), so the list is generous: bearer headers, bootstrap, admin and
 * ServiceAccount tokens, keys, passwords, and CSRs (a CSR carries no private
 * key, but key material is sometimes sent by mistake and a CSR is noise in a
 * log anyway).
 */
export const REDACT_PATHS: readonly string[] = [
  'authorization',
  'headers.authorization',
  '*.headers.authorization',
  'req.headers.authorization',
  'request.headers.authorization',
  'token',
  '*.token',
  'adminToken',
  '*.adminToken',
  'bootstrapToken',
  '*.bootstrapToken',
  'csr',
  '*.csr',
  'key',
  '*.key',
  'privateKey',
  '*.privateKey',
  'password',
  '*.password',
  'body.token',
  'body.csr',
];
