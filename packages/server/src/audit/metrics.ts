import type { RelayAuditEvent } from '../relay/cluster-relay.js';

/** Upper bounds of the relay duration histogram, in seconds. */
const BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30] as const;

/**
 * Prometheus metrics of one replica, in the text exposition format at
 * `GET /metrics` on the operator listener. Labels stay low-cardinality
 * (status code and verb, never user or cluster names): per-cluster and
 * per-user questions are what the audit answers.
 */
export class Metrics {
  readonly #requests = new Map<string, number>();
  readonly #buckets = new Array<number>(BUCKETS.length).fill(0);
  #durationSum = 0;
  #durationCount = 0;
  #bytes = 0;
  readonly #tunnels: () => number;

  constructor(tunnels: () => number) {
    this.#tunnels = tunnels;
  }

  /** Called once per relayed request, with its audit event. */
  observe(e: RelayAuditEvent): void {
    const key = `code="${e.status}",verb="${e.verb.replace(/[^a-z]/g, '')}"`;
    this.#requests.set(key, (this.#requests.get(key) ?? 0) + 1);
    const seconds = e.durationMs / 1000;
    for (let i = 0; i < BUCKETS.length; i++) if (seconds <= BUCKETS[i]!) this.#buckets[i]!++;
    this.#durationSum += seconds;
    this.#durationCount++;
    this.#bytes += e.bytes;
  }

  render(): string {
    const lines = [
      '# HELP hawser_tunnels_connected Agent tunnels connected to this replica.',
      '# TYPE hawser_tunnels_connected gauge',
      `hawser_tunnels_connected ${this.#tunnels()}`,
      '# HELP hawser_relay_requests_total Requests relayed to clusters, by answer status and Kubernetes verb.',
      '# TYPE hawser_relay_requests_total counter',
      ...[...this.#requests].map(([labels, n]) => `hawser_relay_requests_total{${labels}} ${n}`),
      '# HELP hawser_relay_response_bytes_total Response bytes relayed to operators.',
      '# TYPE hawser_relay_response_bytes_total counter',
      `hawser_relay_response_bytes_total ${this.#bytes}`,
      '# HELP hawser_relay_request_duration_seconds Time from request to the end of the response (watches count their whole life).',
      '# TYPE hawser_relay_request_duration_seconds histogram',
      ...BUCKETS.map((b, i) => `hawser_relay_request_duration_seconds_bucket{le="${b}"} ${this.#buckets[i]}`),
      `hawser_relay_request_duration_seconds_bucket{le="+Inf"} ${this.#durationCount}`,
      `hawser_relay_request_duration_seconds_sum ${this.#durationSum}`,
      `hawser_relay_request_duration_seconds_count ${this.#durationCount}`,
    ];
    return lines.join('\n') + '\n';
  }
}
