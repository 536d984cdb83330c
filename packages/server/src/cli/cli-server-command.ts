import type { ServerConfigInput } from '../config.js';
import { DEFAULTS, MAX_BOOTSTRAP_TOKEN_TTL } from '../config.js';
import type { CliCommand } from './cli-command.js';
import { ExitCodes, parse } from './cli-io.js';
import type { CliIo } from './cli-io.js';
import { createServer } from '../server.js';

const HELP = `Usage: hawser server [options]

Runs the Hawser server: the operator/admin API and the agent (mTLS) endpoint.
On first start it creates the CA, serving certificate, token signing key and
an admin token in the data directory.

Options:
  --data-dir PATH          data directory (env HAWSER_DATA_DIR; default ${DEFAULTS.dataDir})
  --database-url URL       postgres://… for PostgreSQL (env HAWSER_DATABASE_URL, preferred
                           for passwords); default: embedded PGlite in <data-dir>/db
  --listen HOST:PORT       operator + admin API (default ${DEFAULTS.listen})
  --agent-listen HOST:PORT agent endpoint (default ${DEFAULTS.agentListen})
  --public-url URL         URL operators use (default: derived from --listen)
  --agent-url URL          URL agents dial, put into tokens (default: derived from --agent-listen)
  --server-name NAME       extra host name or IP for the serving certificate (repeatable)
  --token-ttl DUR          bootstrap token lifetime (default ${DEFAULTS.tokenTtl}, at most ${MAX_BOOTSTRAP_TOKEN_TTL})
  --certificate-ttl DUR    agent certificate lifetime (default ${DEFAULTS.certificateTtl})
  --audit-retention DUR    delete audit events older than this, hourly and at start
                           (env HAWSER_AUDIT_RETENTION; default ${DEFAULTS.auditRetention})
  --log-level LEVEL        fatal|error|warn|info|debug|trace|silent (default ${DEFAULTS.logLevel})
  --audit-sync MODE        process (default): a relayed request's audit record is written
                           before its stream opens, synced within 50 ms; host: waits for the
                           disk sync too (env HAWSER_AUDIT_SYNC; docs/operations.md)
  --log-format FORMAT      auto (readable on a terminal, JSON otherwise; default) | json | pretty
                           (env HAWSER_LOG_FORMAT)
  --metrics-listen ADDR    plain-HTTP /metrics, /livez, /readyz on HOST:PORT, or PORT on loopback
                           (env HAWSER_METRICS_LISTEN; default off)
  --operator-metrics on|off  /metrics on the operator listener too (default: on unless
                           --metrics-listen is set)
  --peer-listen ADDR       replica-to-replica mTLS listener, HOST:PORT or off (default off on the
                           embedded store, 127.0.0.1:8445 with --database-url postgres://…)
  --peer-advertise URL     https://HOST:PORT other replicas dial (default: from --peer-listen)
  --agent-chart REF        chart the printed helm install line names (env HAWSER_AGENT_CHART):
                           oci://REGISTRY/PATH/hawser-agent, https://…/hawser-agent-V.tgz, or a
                           local chart directory or .tgz (made absolute); default: this
                           checkout's charts/hawser-agent
  --replica-id ID          this replica's id among several on one PostgreSQL, a DNS label
                           (env HAWSER_REPLICA_ID; the chart passes the pod name; default random)
  --lease-ttl DURATION     how long a tunnel lease lives unrenewed, 1s-10m (env HAWSER_LEASE_TTL;
                           default ${DEFAULTS.leaseTtl}; docs/operations.md "Several replicas")

Operators (see docs/operations.md):
  --authz-mode MODE        tier (default) | raw | shared (env HAWSER_AUTHZ_MODE)
  --impersonation-prefix P prefix of impersonated identities (default hawser:; must match the agents)
  --tier TIER=G1,G2        IdP groups that grant a tier: read, triage, write, maintain, admin
                           (repeatable; env HAWSER_TIER_GROUPS='{"read":["devs"],"admin":["sre"]}')
  --oidc-issuer URL        OIDC issuer; enables OIDC ID tokens (env HAWSER_OIDC_ISSUER)
  --oidc-audience AUD      expected aud, the client id (env HAWSER_OIDC_AUDIENCE)
  --oidc-username-claim C  claim naming the user (default email)
  --oidc-groups-claim C    claim listing groups (default groups)
  --oidc-jwks-url URL      JWKS URL (default: from the issuer's discovery document)
  --kubernetes-auth JSON   accept workloads' ServiceAccount tokens, verified by TokenReview
                           (env HAWSER_KUBERNETES_AUTH): {"audience":"...","tiers":{"write":
                           ["system:serviceaccount:NS:NAME"]},"cacheSeconds":10}

Replicas (docs/operations.md, "Several replicas: drain, chart, load balancer"):
  --drain-timeout DUR      on SIGTERM, how long accepted requests get to finish (env
                           HAWSER_DRAIN_TIMEOUT; default ${DEFAULTS.drainTimeout}, at most 10m): /readyz says
                           draining at once, new requests get 503 + Retry-After, agents GOAWAY;
                           it answers so for 3 s at least, for load balancers to notice
  -h, --help               show help
`;

const OPTIONS = {
  'data-dir': { type: 'string' },
  'database-url': { type: 'string' },
  listen: { type: 'string' },
  'agent-listen': { type: 'string' },
  'public-url': { type: 'string' },
  'agent-url': { type: 'string' },
  'server-name': { type: 'string', multiple: true },
  'token-ttl': { type: 'string' },
  'certificate-ttl': { type: 'string' },
  'audit-retention': { type: 'string' },
  'log-level': { type: 'string' },
  'log-format': { type: 'string' },
  'metrics-listen': { type: 'string' },
  'peer-listen': { type: 'string' },
  'peer-advertise': { type: 'string' },
  'operator-metrics': { type: 'string' },
  'agent-chart': { type: 'string' },
  'audit-sync': { type: 'string' },
  'authz-mode': { type: 'string' },
  'impersonation-prefix': { type: 'string' },
  tier: { type: 'string', multiple: true },
  'oidc-issuer': { type: 'string' },
  'oidc-audience': { type: 'string' },
  'oidc-username-claim': { type: 'string' },
  'oidc-groups-claim': { type: 'string' },
  'oidc-jwks-url': { type: 'string' },
  'kubernetes-auth': { type: 'string' },
  'drain-timeout': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
  'replica-id': { type: 'string' },
  'lease-ttl': { type: 'string' },
} as const;

/** How long a stopping server keeps answering 503 at least, for load balancers' health checks to notice. */
const DRAIN_LINGER_MS = 3_000;

function stopSignal(): Promise<string> {
  return new Promise((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'));
    process.once('SIGTERM', () => resolve('SIGTERM'));
  });
}

/** `hawser server`: runs until SIGINT/SIGTERM (or io.stopSignal), then drains. */
export const serverCommand: CliCommand = { name: 'server', summary: 'run the Hawser server', options: OPTIONS, run: runServer };

async function runServer(args: readonly string[], io: CliIo): Promise<number> {
  const { values, positionals } = parse(args, OPTIONS, 'hawser server');
  if (values.help) {
    io.stdout(HELP);
    return ExitCodes.OK;
  }
  if (positionals.length > 0) {
    io.stderr(`hawser server: unexpected argument ${JSON.stringify(positionals[0])} (see --help)\n`);
    return ExitCodes.USAGE;
  }
  const env = io.env;
  const input: ServerConfigInput = {};
  const set = <K extends keyof ServerConfigInput>(key: K, value: ServerConfigInput[K] | undefined): void => {
    if (value !== undefined) input[key] = value;
  };
  set('dataDir', values['data-dir'] ?? env.HAWSER_DATA_DIR);
  set('databaseUrl', values['database-url'] ?? env.HAWSER_DATABASE_URL);
  set('listen', values.listen);
  set('agentListen', values['agent-listen']);
  set('publicUrl', values['public-url']);
  set('agentUrl', values['agent-url']);
  if (values['server-name']) input.serverNames = [...DEFAULTS.serverNames, ...values['server-name']];
  set('tokenTtl', values['token-ttl']);
  set('certificateTtl', values['certificate-ttl']);
  set('auditRetention', values['audit-retention'] ?? env.HAWSER_AUDIT_RETENTION);
  set('logLevel', values['log-level']);
  set('logFormat', values['log-format'] ?? env.HAWSER_LOG_FORMAT);
  set('metricsListen', values['metrics-listen'] ?? env.HAWSER_METRICS_LISTEN);
  set('peerListen', values['peer-listen'] ?? env.HAWSER_PEER_LISTEN);
  set('peerAdvertise', values['peer-advertise'] ?? env.HAWSER_PEER_ADVERTISE);
  const operatorMetrics = values['operator-metrics'];
  if (operatorMetrics !== undefined) {
    if (operatorMetrics !== 'on' && operatorMetrics !== 'off') {
      io.stderr(`hawser server: --operator-metrics expects on or off, got ${JSON.stringify(operatorMetrics)}\n`);
      return ExitCodes.USAGE;
    }
    input.operatorMetrics = operatorMetrics === 'on';
  }
  set('agentChart', values['agent-chart'] ?? env.HAWSER_AGENT_CHART);
  set('auditSync', values['audit-sync'] ?? env.HAWSER_AUDIT_SYNC);
  set('drainTimeout', values['drain-timeout'] ?? env.HAWSER_DRAIN_TIMEOUT);
  set('authorizationMode', values['authz-mode'] ?? env.HAWSER_AUTHZ_MODE);
  set('impersonationPrefix', values['impersonation-prefix'] ?? env.HAWSER_IMPERSONATION_PREFIX);
  const tiers = values.tier ?? [];
  if (!tiers.length && env.HAWSER_TIER_GROUPS) {
    try {
      input.tierGroups = JSON.parse(env.HAWSER_TIER_GROUPS) as Record<string, string[]>;
    } catch {
      io.stderr('hawser server: HAWSER_TIER_GROUPS must be JSON such as {"read":["devs"],"admin":["sre"]}\n');
      return ExitCodes.USAGE;
    }
  }
  if (tiers.length) {
    const tierGroups: Record<string, string[]> = {};
    for (const spec of tiers) {
      const m = /^([a-z]+)=(.+)$/.exec(spec.trim());
      if (!m) {
        io.stderr(`hawser server: --tier expects TIER=GROUP[,GROUP...], got ${JSON.stringify(spec)}\n`);
        return ExitCodes.USAGE;
      }
      (tierGroups[m[1]!] ??= []).push(...m[2]!.split(',').map((g) => g.trim()).filter(Boolean));
    }
    input.tierGroups = tierGroups;
  }
  const kubernetesAuth = values['kubernetes-auth'] ?? env.HAWSER_KUBERNETES_AUTH;
  if (kubernetesAuth) {
    try {
      input.kubernetesAuth = JSON.parse(kubernetesAuth) as ServerConfigInput['kubernetesAuth'];
    } catch {
      io.stderr('hawser server: --kubernetes-auth / HAWSER_KUBERNETES_AUTH must be JSON such as {"audience":"https://hawser.example.com","tiers":{"write":["system:serviceaccount:ci:deployer"]}}\n');
      return ExitCodes.USAGE;
    }
  }
  const issuer = values['oidc-issuer'] ?? env.HAWSER_OIDC_ISSUER;
  if (issuer) {
    input.oidc = {
      issuer,
      ...((values['oidc-audience'] ?? env.HAWSER_OIDC_AUDIENCE) ? { audience: values['oidc-audience'] ?? env.HAWSER_OIDC_AUDIENCE } : {}),
      ...((values['oidc-username-claim'] ?? env.HAWSER_OIDC_USERNAME_CLAIM) ? { usernameClaim: values['oidc-username-claim'] ?? env.HAWSER_OIDC_USERNAME_CLAIM } : {}),
      ...((values['oidc-groups-claim'] ?? env.HAWSER_OIDC_GROUPS_CLAIM) ? { groupsClaim: values['oidc-groups-claim'] ?? env.HAWSER_OIDC_GROUPS_CLAIM } : {}),
      ...((values['oidc-jwks-url'] ?? env.HAWSER_OIDC_JWKS_URL) ? { jwksUrl: values['oidc-jwks-url'] ?? env.HAWSER_OIDC_JWKS_URL } : {}),
    };
  }
  set('replicaId', values['replica-id'] ?? env.HAWSER_REPLICA_ID);
  set('leaseTtl', values['lease-ttl'] ?? env.HAWSER_LEASE_TTL);

  const server = createServer(input);
  await server.listen();
  const signal = await (io.stopSignal ?? stopSignal());
  server.context.log.info({ component: 'server', signal }, 'shutting down');
  // A load balancer checking /readyz every second sees "draining" before the listeners close.
  await server.close({ lingerMs: Math.min(DRAIN_LINGER_MS, server.config.drainTimeoutMs) });
  return ExitCodes.OK;
}
