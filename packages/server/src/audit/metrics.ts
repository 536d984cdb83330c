import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { RelayAuditEvent } from '../relay/relay-options.js';
import type { AuditEventRecord } from '../store/store.js';
import { LabelCap, OTHER_LABEL } from './label-cap.js';
import { registrationOutcome, tunnelRefusalCode } from './audit-metric-events.js';

/** Upper bounds of the relay duration histogram, in seconds. */
const BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** Kubernetes verbs and the HTTP methods of non-resource paths; anything else is `other`. */
const VERBS = new Set(['get', 'list', 'watch', 'create', 'update', 'patch', 'delete', 'deletecollection', 'proxy', 'post', 'put', 'head', 'options']);
const ERROR_CODE = /^H(SR|AG|TN)_ERR_[A-Z0-9_]{1,60}$/;
const RULE = /^[a-z0-9-]{1,40}$/;

/** What the metrics read at scrape time. */
export interface MetricsSources {
  /** Live tunnels: the tunnel registry. */
  readonly tunnels: {
    list(): readonly { clusterId: string; clusterName: string; connectedAt: Date }[];
    session(clusterId: string): unknown;
  };
  /** Registered (active) clusters, for the 0 of `hawser_cluster_connected`. */
  clusters(): Promise<readonly { id: string; name: string }[]>;
  /** The relay audit's backlog, once it is open. */
  auditBacklog?(): AuditBacklog | undefined;
  /** The server's version, for `hawser_build_info`. */
  readonly version: string;
  /** Distinct cluster label values before the rest share `_other`. Default 1000. */
  readonly maxClusters?: number;
}

/** How far the relay audit's durable copy runs behind the relay. */
export interface AuditBacklog {
  /** Rows waiting for the next batch into the store. */
  readonly pending: number;
  /** Rows not batched because the queue was full, since start (they stay in the journal). */
  readonly dropped: number;
  /** Journal rows the store does not have yet. */
  readonly journal: number;
  /** Requests begun and not ended (watches, exec). */
  readonly open: number;
}

/**
 * Prometheus metrics of one replica (prom-client): the process and Node
 * runtime, build info, each cluster's tunnel, relayed requests, refusals,
 * registrations and the audit's backlog. Served at `/metrics` on the
 * metrics listener and, unless turned off, on the operator listener.
 *
 * Cardinality: the `cluster` label carries names of registered clusters
 * only (a request for an unknown name is labelled `""`, so a caller cannot
 * mint series), and at most `maxClusters` of them; later ones share
 * `_other`. Per-user questions are what the audit answers.
 */
export class Metrics {
  readonly registry = new Registry();
  readonly #labels: LabelCap;
  /** Hawser's codes are a fixed set of some dozens; the agent's arrive in a header, so they are capped too. */
  readonly #codes = new LabelCap(100);
  readonly #requests: Counter<'cluster' | 'code' | 'verb'>;
  readonly #duration: Histogram<'cluster'>;
  readonly #bytes: Counter<'cluster'>;
  readonly #refusals: Counter<'cluster' | 'code' | 'rule'>;
  readonly #registrations: Counter<'outcome'>;
  readonly #tunnelRefusals: Counter<'code'>;
  readonly #auditEvents: Counter<'type' | 'outcome'>;

  constructor(sources: MetricsSources) {
    const registers = [this.registry];
    const labels = (this.#labels = new LabelCap(sources.maxClusters ?? 1000));
    collectDefaultMetrics({ register: this.registry });
    new Gauge({ name: 'hawser_build_info', help: 'The server build: version and Node.js version; always 1.', labelNames: ['version', 'node_version'], registers })
      .set({ version: sources.version, node_version: process.version }, 1);
    new Gauge({
      name: 'hawser_tunnels_connected',
      help: 'Agent tunnels connected to this replica.',
      registers,
      collect() {
        this.set(sources.tunnels.list().length);
      },
    });
    // One look at tunnels and clusters per scrape, shared by the two gauges
    // below (prom-client collects all metrics of a scrape concurrently).
    let snapshot: Promise<{ label: string; connectedAt: Date | undefined }[]> | undefined;
    const clusterStates = (): Promise<{ label: string; connectedAt: Date | undefined }[]> =>
      (snapshot ??= readClusterStates(sources, labels).finally(() => setImmediate(() => (snapshot = undefined))));
    new Gauge({
      name: 'hawser_cluster_connected',
      help: 'Whether the cluster has a tunnel on this replica (1) or not (0); _other counts the connected clusters beyond the label cap.',
      labelNames: ['cluster'],
      registers,
      async collect() {
        const states = await clusterStates();
        this.reset();
        for (const { label, connectedAt } of states) {
          if (label === OTHER_LABEL) this.inc({ cluster: label }, connectedAt ? 1 : 0);
          else this.set({ cluster: label }, connectedAt ? 1 : 0);
        }
      },
    });
    new Gauge({
      name: 'hawser_cluster_connected_since_seconds',
      help: "When the cluster's current tunnel connected (Unix time); absent while it is not connected.",
      labelNames: ['cluster'],
      registers,
      async collect() {
        const states = await clusterStates();
        this.reset();
        for (const { label, connectedAt } of states) if (connectedAt && label !== OTHER_LABEL) this.set({ cluster: label }, connectedAt.getTime() / 1000);
      },
    });
    this.#requests = new Counter({
      name: 'hawser_relay_requests_total',
      help: 'Requests relayed to clusters, by cluster, answer status and Kubernetes verb.',
      labelNames: ['cluster', 'code', 'verb'],
      registers,
    });
    this.#duration = new Histogram({
      name: 'hawser_relay_request_duration_seconds',
      help: 'Time from request to the end of the response (watches count their whole life).',
      labelNames: ['cluster'],
      buckets: BUCKETS,
      registers,
    });
    this.#bytes = new Counter({ name: 'hawser_relay_response_bytes_total', help: 'Response bytes relayed to operators.', labelNames: ['cluster'], registers });
    this.#refusals = new Counter({
      name: 'hawser_relay_refusals_total',
      help: 'Relayed requests refused by Hawser (HSR_ERR_*: the server; HAG_ERR_*: the agent), by cluster, code and the agent policy rule ("" for other refusals).',
      labelNames: ['cluster', 'code', 'rule'],
      registers,
    });
    this.#registrations = new Counter({
      name: 'hawser_registrations_total',
      help: 'Agent registrations and renewals, by outcome: registered, renewed, refused, renew-refused.',
      labelNames: ['outcome'],
      registers,
    });
    this.#tunnelRefusals = new Counter({
      name: 'hawser_tunnel_refusals_total',
      help: 'Agent tunnels refused, by reason (client certificate) or code (handshake).',
      labelNames: ['code'],
      registers,
    });
    this.#auditEvents = new Counter({ name: 'hawser_audit_events_total', help: 'Control-plane audit events, by type and outcome.', labelNames: ['type', 'outcome'], registers });
    const backlog = (name: string, help: string, pick: (b: AuditBacklog) => number): Gauge =>
      new Gauge({
        name,
        help,
        registers,
        collect() {
          const b = sources.auditBacklog?.();
          if (b) this.set(pick(b));
        },
      });
    backlog('hawser_audit_relay_rows_pending', 'Relayed-request audit rows waiting for the next batch into the store.', (b) => b.pending);
    new Counter({
      name: 'hawser_audit_relay_rows_dropped_total',
      help: 'Relayed-request audit rows not batched because the store fell behind (kept in the journal, stored at the next start).',
      registers,
      collect() {
        const b = sources.auditBacklog?.();
        this.reset();
        if (b) this.inc(b.dropped);
      },
    });
    backlog('hawser_audit_journal_rows_unstored', 'Audit journal rows the store does not have yet: how far the store runs behind.', (b) => b.journal);
    backlog('hawser_relay_requests_open', 'Relayed requests begun and not ended (watches, exec sessions).', (b) => b.open);
  }

  /** Called once per relayed request, with its audit event. */
  observe(e: RelayAuditEvent): void {
    // Only a registered cluster's name becomes a label: the URL's is the caller's.
    const cluster = e.clusterId ? this.#labels.label(e.cluster) : '';
    const verb = VERBS.has(e.verb) ? e.verb : 'other';
    this.#requests.inc({ cluster, code: String(e.status), verb });
    this.#duration.observe({ cluster }, e.durationMs / 1000);
    if (e.bytes > 0) this.#bytes.inc({ cluster }, e.bytes);
    if (e.code) {
      const code = ERROR_CODE.test(e.code) ? this.#codes.label(e.code) : 'other';
      const rule = e.rule === undefined ? '' : RULE.test(e.rule) ? this.#codes.label(e.rule) : 'other';
      this.#refusals.inc({ cluster, code, rule });
    }
  }

  /** Called with each control-plane audit event. */
  observeAudit(e: AuditEventRecord): void {
    this.#auditEvents.inc({ type: e.type, outcome: e.outcome });
    const outcome = registrationOutcome(e);
    if (outcome) this.#registrations.inc({ outcome });
    const refusal = tunnelRefusalCode(e);
    if (refusal) this.#tunnelRefusals.inc({ code: refusal });
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The text exposition format. */
  render(): Promise<string> {
    return this.registry.metrics();
  }
}

/** Every registered cluster (and any with a live tunnel) with its label and, when connected, since when. */
async function readClusterStates(sources: MetricsSources, labels: LabelCap): Promise<{ label: string; connectedAt: Date | undefined }[]> {
  const live = new Map<string, Date>();
  const names = new Map<string, string>();
  for (const t of sources.tunnels.list()) {
    names.set(t.clusterId, t.clusterName);
    if (!sources.tunnels.session(t.clusterId)) continue;
    const seen = live.get(t.clusterId);
    if (!seen || t.connectedAt > seen) live.set(t.clusterId, t.connectedAt);
  }
  try {
    for (const c of await sources.clusters()) names.set(c.id, c.name);
  } catch {
    // The store is down: report the tunnels this replica knows of.
  }
  return [...names].map(([id, name]) => ({ label: labels.label(name), connectedAt: live.get(id) }));
}
