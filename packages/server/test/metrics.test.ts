import { describe, expect, it } from 'vitest';
import { AuditEventTypes } from '../src/audit/audit.js';
import { Metrics, type MetricsSources } from '../src/audit/metrics.js';
import type { RelayAuditEvent } from '../src/relay/relay-options.js';
import type { AuditEventRecord } from '../src/store/store.js';

function event(over: Partial<RelayAuditEvent> = {}): RelayAuditEvent {
  return {
    requestId: 'r', user: 'u', groups: [], tier: 'read', cluster: 'prod', clusterId: 'c-prod', verb: 'get', resource: 'pods',
    subresource: '', namespace: 'default', name: 'p', path: '/api/v1/namespaces/default/pods/p', status: 200, bytes: 100,
    durationMs: 12, sourceIp: '127.0.0.1', ...over,
  };
}

function audit(type: AuditEventRecord['type'], over: Partial<AuditEventRecord> = {}): AuditEventRecord {
  return { id: 'a', time: new Date(), type, actor: 'x', clusterId: null, requestId: null, sourceIp: null, outcome: 'success', reason: null, details: {}, ...over };
}

function metrics(over: Partial<MetricsSources> = {}): Metrics {
  return new Metrics({ tunnels: { list: () => [], session: () => undefined }, clusters: async () => [], version: '9.9.9', ...over });
}

describe('metrics', () => {
  it('exposes the process, the Node runtime and the build', async () => {
    const text = await metrics().render();
    expect(text).toMatch(/^process_resident_memory_bytes \d+/m);
    expect(text).toMatch(/^nodejs_eventloop_lag_seconds /m);
    expect(text).toContain(`hawser_build_info{version="9.9.9",node_version="${process.version}"} 1`);
  });

  it('counts relayed requests by cluster, code and verb, with their duration and bytes', async () => {
    const m = metrics();
    m.observe(event());
    m.observe(event({ verb: 'list', status: 403, bytes: 0, code: 'HAG_ERR_POLICY_DENIED', rule: 'verb-ceiling' }));
    m.observe(event({ verb: 'WEIRD', status: 401, clusterId: undefined, cluster: 'made-up-by-the-caller', code: 'HSR_ERR_UNAUTHORIZED' }));
    const text = await m.render();
    expect(text).toContain('hawser_relay_requests_total{cluster="prod",code="200",verb="get"} 1');
    expect(text).toContain('hawser_relay_requests_total{cluster="prod",code="403",verb="list"} 1');
    // An unregistered name from the URL never becomes a label.
    expect(text).toContain('hawser_relay_requests_total{cluster="",code="401",verb="other"} 1');
    expect(text).not.toContain('made-up-by-the-caller');
    expect(text).toContain('hawser_relay_request_duration_seconds_bucket{le="0.025",cluster="prod"} 2');
    expect(text).toContain('hawser_relay_response_bytes_total{cluster="prod"} 100');
    expect(text).toContain('hawser_relay_refusals_total{cluster="prod",code="HAG_ERR_POLICY_DENIED",rule="verb-ceiling"} 1');
    expect(text).toContain('hawser_relay_refusals_total{cluster="",code="HSR_ERR_UNAUTHORIZED",rule=""} 1');
  });

  it('caps the cluster label: clusters beyond the cap share _other', async () => {
    const m = metrics({ maxClusters: 2 });
    for (const name of ['a', 'b', 'c', 'd']) m.observe(event({ cluster: name, clusterId: `id-${name}` }));
    const text = await m.render();
    expect(text).toContain('hawser_relay_requests_total{cluster="a",code="200",verb="get"} 1');
    expect(text).toContain('hawser_relay_requests_total{cluster="b",code="200",verb="get"} 1');
    expect(text).toContain('hawser_relay_requests_total{cluster="_other",code="200",verb="get"} 2');
  });

  it('never turns free text from a response header into a code label', async () => {
    const m = metrics();
    m.observe(event({ status: 502, code: 'x-hawser-error: anything at all', rule: 'Free Text' }));
    expect(await m.render()).toContain('hawser_relay_refusals_total{cluster="prod",code="other",rule="other"} 1');
  });

  it('shows each registered cluster connected or not, and since when', async () => {
    const since = new Date('2026-11-29T05:00:00Z');
    const m = metrics({
      tunnels: { list: () => [{ clusterId: 'c1', clusterName: 'one', connectedAt: since }], session: (id) => (id === 'c1' ? {} : undefined) },
      clusters: async () => [{ id: 'c1', name: 'one' }, { id: 'c2', name: 'two' }],
    });
    const text = await m.render();
    expect(text).toContain('hawser_cluster_connected{cluster="one"} 1');
    expect(text).toContain('hawser_cluster_connected{cluster="two"} 0');
    expect(text).toContain(`hawser_cluster_connected_since_seconds{cluster="one"} ${since.getTime() / 1000}`);
    expect(text).not.toContain('hawser_cluster_connected_since_seconds{cluster="two"}');
    expect(text).toMatch(/^hawser_tunnels_connected 1$/m);
  });

  it('still shows the live tunnels when the store cannot list clusters', async () => {
    const m = metrics({
      tunnels: { list: () => [{ clusterId: 'c1', clusterName: 'one', connectedAt: new Date() }], session: () => ({}) },
      clusters: () => Promise.reject(new Error('store down')),
    });
    expect(await m.render()).toContain('hawser_cluster_connected{cluster="one"} 1');
  });

  it('counts registrations by outcome, tunnel refusals by code and audit events by type', async () => {
    const m = metrics();
    m.observeAudit(audit(AuditEventTypes.CERTIFICATE_ISSUED));
    m.observeAudit(audit(AuditEventTypes.CERTIFICATE_RENEWED));
    m.observeAudit(audit(AuditEventTypes.TOKEN_REFUSED, { outcome: 'failure', reason: 'expired' }));
    m.observeAudit(audit(AuditEventTypes.CERTIFICATE_REFUSED, { outcome: 'failure', reason: 'certificate-revoked', details: { route: '/agent/v1/tunnel' } }));
    m.observeAudit(audit(AuditEventTypes.AGENT_REFUSED, { outcome: 'failure', reason: 'HSR_ERR_AGENT_METADATA_INVALID' }));
    const text = await m.render();
    expect(text).toContain('hawser_registrations_total{outcome="registered"} 1');
    expect(text).toContain('hawser_registrations_total{outcome="renewed"} 1');
    expect(text).toContain('hawser_registrations_total{outcome="refused"} 1');
    expect(text).toContain('hawser_tunnel_refusals_total{code="certificate-revoked"} 1');
    expect(text).toContain('hawser_tunnel_refusals_total{code="HSR_ERR_AGENT_METADATA_INVALID"} 1');
    expect(text).toContain('hawser_audit_events_total{type="token.refused",outcome="failure"} 1');
  });

  it('shows the audit backlog: pending, dropped, unstored journal rows and open requests', async () => {
    const m = metrics({ auditBacklog: () => ({ pending: 3, dropped: 7, journal: 11, open: 2 }) });
    const text = await m.render();
    expect(text).toMatch(/^hawser_audit_relay_rows_pending 3$/m);
    expect(text).toMatch(/^hawser_audit_relay_rows_dropped_total 7$/m);
    expect(text).toMatch(/^hawser_audit_journal_rows_unstored 11$/m);
    expect(text).toMatch(/^hawser_relay_requests_open 2$/m);
  });
});
