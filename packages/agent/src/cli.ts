#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { AGENT_VERSION, Agent } from './agent.js';
import { loadConfig } from './config.js';
import { AgentError } from './errors.js';
import { createLogger } from './log.js';

const help = `hawser-agent ${AGENT_VERSION}: dials out to a Hawser server and relays Kubernetes API
requests to this cluster under impersonation, within a local policy.

Usage: hawser-agent [flags]

In a pod everything comes from the environment the hawser-agent Helm chart sets;
flags override environment variables.

Registration
  --token-file PATH          bootstrap token file (HAWSER_BOOTSTRAP_TOKEN_FILE,
                             default /var/run/hawser/bootstrap/token)
  --token TOKEN              bootstrap token inline (HAWSER_BOOTSTRAP_TOKEN; development)
  --server-url URL           agent endpoint of the server (HAWSER_SERVER_URL; default: from the token)
  --ca-hash sha256:HEX       pin the server CA (HAWSER_CA_HASH; default: from the token)

State and cluster access
  --state-secret NAME        state Secret (HAWSER_STATE_SECRET, default hawser-agent-state)
  --namespace NS             its namespace (POD_NAMESPACE)
  --state-dir DIR            keep state in a directory instead (HAWSER_STATE_DIR; outside a cluster)
  --kubeconfig PATH          use a kubeconfig instead of the pod's ServiceAccount (KUBECONFIG)
  --context NAME             kubeconfig context (HAWSER_KUBE_CONTEXT)

Policy
  --mode MODE                read-only (default) | read-write | full (HAWSER_MODE)
  --authz-mode MODE          tier (default) | raw | shared (HAWSER_AUTHZ_MODE)
  --impersonation-prefix P   prefix of every impersonated identity (HAWSER_IMPERSONATION_PREFIX, default hawser:)
  --deny-resources LIST      comma-separated resources always refused (HAWSER_DENY_RESOURCES)
  --protected-namespaces L   namespaces read-write/full only read (HAWSER_PROTECTED_NAMESPACES,
                             default kube-system,kube-public,kube-node-lease; "" for none)
  --protect-own-namespace B  add the agent's own namespace to them (HAWSER_PROTECT_OWN_NAMESPACE, default true)

Operations
  --health-addr HOST:PORT    /healthz and /readyz (HAWSER_HEALTH_ADDR, default 0.0.0.0:8080)
  --log-level LEVEL          fatal|error|warn|info|debug|trace|silent (HAWSER_LOG_LEVEL, default info)
  --log-format FORMAT        auto (default: readable on a terminal, JSON otherwise) | json | pretty (HAWSER_LOG_FORMAT)
  HTTPS_PROXY, NO_PROXY      reach the server through an HTTP CONNECT proxy
  -h, --help                 this help
  -v, --version              print the version
`;

const stringFlags = [
  'token-file', 'token', 'server-url', 'ca-hash', 'state-secret', 'namespace', 'state-dir', 'kubeconfig', 'context',
  'mode', 'authz-mode', 'impersonation-prefix', 'deny-resources', 'health-addr', 'log-level', 'log-format',
  'protected-namespaces', 'protect-own-namespace', 'chart-version',
] as const;

async function main(): Promise<number> {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      options: {
        ...Object.fromEntries(stringFlags.map((f) => [f, { type: 'string' as const }])),
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean', short: 'v' },
      },
      allowPositionals: false,
    }));
  } catch (err) {
    process.stderr.write(`hawser-agent: ${(err as Error).message}\nRun "hawser-agent --help" for usage.\n`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(help);
    return 0;
  }
  if (values.version) {
    process.stdout.write(`${AGENT_VERSION}\n`);
    return 0;
  }
  const config = loadConfig({ flags: values, env: process.env });
  const log = createLogger(config.logLevel, undefined, config.logFormat);
  const agent = new Agent(config, log);
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) {
      agent.destroy(new Error(`second ${signal}`));
      process.exit(1);
    }
    stopping = true;
    log.info({ component: 'agent', signal }, 'draining');
    agent.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  await agent.start();
  return -1;
}

main().then(
  (code) => {
    if (code >= 0) process.exit(code);
  },
  (err: unknown) => {
    if (err instanceof AgentError) process.stderr.write(`hawser-agent: ${err.code}: ${err.message}\n`);
    else process.stderr.write(`hawser-agent: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
