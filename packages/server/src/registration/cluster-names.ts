import { ErrorCodes, HawserServerError } from '../errors.js';

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const LABEL_NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/**
 * Cluster names are DNS-1123 labels, like Kubernetes object names: they end up
 * in kubeconfig context names, URLs (`/clusters/NAME/…`) and Helm releases.
 */
export function validateClusterName(name: unknown): string {
  if (typeof name !== 'string' || name.length === 0 || name.length > 63 || !DNS1123_LABEL.test(name)) {
    throw new HawserServerError(
      ErrorCodes.CLUSTER_NAME_INVALID,
      `invalid cluster name ${JSON.stringify(name)}: use 1-63 lower-case letters, digits and '-', ` +
        `starting and ending with a letter or digit (a DNS-1123 label, e.g. prod-eu-1)`,
    );
  }
  return name;
}

function labelError(what: string): never {
  throw new HawserServerError(
    ErrorCodes.CLUSTER_LABEL_INVALID,
    `invalid label ${what}: keys are [prefix/]name (name 1-63 of letters, digits, '-', '_', '.'; ` +
      `prefix a DNS subdomain), values 0-63 of the same characters`,
  );
}

function validateLabel(key: string, value: string): void {
  const slash = key.indexOf('/');
  const prefix = slash === -1 ? undefined : key.slice(0, slash);
  const name = slash === -1 ? key : key.slice(slash + 1);
  if (prefix !== undefined && (prefix.length === 0 || prefix.length > 253 || !DNS1123_SUBDOMAIN.test(prefix))) {
    labelError(JSON.stringify(key));
  }
  if (name.length === 0 || name.length > 63 || !LABEL_NAME.test(name)) labelError(JSON.stringify(key));
  if (value.length > 63 || (value !== '' && !LABEL_NAME.test(value))) labelError(`${key}=${JSON.stringify(value)}`);
}

/** Validates a label map (Kubernetes label syntax). */
export function validateLabels(labels: unknown): Record<string, string> {
  if (labels === undefined || labels === null) return {};
  if (typeof labels !== 'object' || Array.isArray(labels)) labelError('set: expected an object of key: value');
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(labels as Record<string, unknown>)) {
    if (typeof value !== 'string') labelError(`${key}: value must be a string`);
    validateLabel(key, value);
    out[key] = value;
  }
  return out;
}

/** Parses `k=v` strings (CLI `--label`) into a validated label map. */
export function parseLabelArgs(args: readonly string[]): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const arg of args) {
    const eq = arg.indexOf('=');
    if (eq <= 0) labelError(`${JSON.stringify(arg)}: expected key=value`);
    labels[arg.slice(0, eq)] = arg.slice(eq + 1);
  }
  return validateLabels(labels);
}
